"""The Hub side of saving: our model card goes up before transformers' own ``push_to_hub``.

``TinyLMPreTrainedModel.push_to_hub`` (``modeling/saving.py``) calls ``push_model_card`` and then transformers'
``PreTrainedModel.push_to_hub``, which loads the repo's README.md, adds the tags and uploads it with the weights,
the config and the modeling code. The rules for the card are those of a generated card:

- a repo without README.md gets ours (``model_card.model_card_text``, naming the repo);
- a README.md with ``CARD_MARKER`` is ours from an earlier push: regenerated (the model may have changed), keeping
  the tags added to it since;
- a README.md without the marker was written by somebody: never replaced, only tagged.

transformers reads README.md from the main branch only, so a push to another ``revision`` or as a pull request
(``create_pr``) leaves the card to transformers: pushing ours to main first would change main behind the branch's
or the pull request's back.
"""

from huggingface_hub import HfApi, ModelCard
from huggingface_hub.errors import EntryNotFoundError

from .model_card import CARD_MARKER, card_tags, merge_tags, model_card_text

README_NAME = "README.md"
MAIN_BRANCH = "main"


def card_for_repo(model, repo_id: str, remote_text, tags=None) -> str:
    """The README.md text for ``repo_id``, whose current README is ``remote_text`` (None when it has none)."""
    if remote_text is None:
        return model_card_text(model, repo_id=repo_id, tags=tags)
    remote = ModelCard(remote_text, ignore_metadata_errors=True)
    remote_tags = list(remote.data.tags or [])
    if CARD_MARKER in remote_text:
        return model_card_text(model, repo_id=repo_id, tags=merge_tags(remote_tags, tags))
    remote.data.tags = merge_tags(remote_tags, card_tags(model, tags))
    return str(remote)


def push_model_card(model, repo_id: str, *, token=None, private=None, revision=None, create_pr=False, tags=None):
    """Create ``repo_id`` if needed and upload the card it should have (see the module docstring) to main.

    Returns the ``CommitInfo`` of the card's commit, or None when nothing was pushed: the README is already the
    right one, or the push goes to another branch or a pull request.
    """
    if create_pr or revision not in (None, MAIN_BRANCH):
        return None
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    try:
        path = api.hf_hub_download(repo_id=repo_id, filename=README_NAME)
    except EntryNotFoundError:
        remote_text = None
    else:
        with open(path, encoding="utf-8") as handle:
            remote_text = handle.read()
    card = ModelCard(card_for_repo(model, repo_id, remote_text, tags))
    if remote_text is not None and str(card) == str(ModelCard(remote_text, ignore_metadata_errors=True)):
        return None
    message = "Add model card" if remote_text is None else "Update model card"
    return card.push_to_hub(repo_id, token=token, commit_message=message)
