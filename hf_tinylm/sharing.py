"""Saving and sharing: every saved folder carries an ``auto_map`` for all three Auto classes and a model card.

``save_pretrained`` writes a generated README.md (see ``model_card.py``) into folders that have none, and
``push_to_hub`` uploads that card instead of transformers' generic one. A README.md somebody wrote (locally, or
on the Hub without our marker line) is never replaced; pushing only adds tags to a Hub one, as transformers does.
"""

import os
import tempfile

from huggingface_hub import HfApi, ModelCard
from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

from .model_card import BASE_TAGS, CARD_MARKER, build_model_card, merge_tags

README_NAME = "README.md"
# Keywords of save_pretrained(push_to_hub=True) that belong to the Hub, not to the local save.
_HUB_KWARGS = ("repo_id", "commit_message", "commit_description", "create_pr", "private", "revision", "tags")
# Keywords of push_to_hub that are passed on to the save.
_PUSH_SAVE_KWARGS = ("variant", "state_dict", "save_original_format")


def _default_commit_message(model) -> str:
    # transformers' wording, so commits look the same whichever push path made them.
    name = type(model).__name__
    return "Upload model" if "Model" in name else f"Upload {name}"


class SharingMixin:
    """Mixed into ``TinyLMPreTrainedModel``; transformers only maps the saved class, so we add the other two."""

    # {Auto class: "module_file.ClassName"} as transformers flattens the files next to the weights; model families
    # defined in other files (byte-level, next-thought) name their own classes.
    AUTO_MAP = {
        "AutoConfig": "configuration_tinylm.TinyLMConfig",
        "AutoModel": "modeling_tinylm.TinyLMModel",
        "AutoModelForCausalLM": "modeling_tinylm.TinyLMForCausalLM",
    }
    # Added to the model card's tags after hf_tinylm's own.
    FAMILY_TAGS = ()

    # ---- model card ----------------------------------------------------------------------------------------
    def model_card_text(self, repo_id: str = None, tags=None) -> str:
        """README.md text describing this model; ``tags`` are added to the base tags and ``self.model_tags``."""
        return build_model_card(self, repo_id=repo_id, tags=tags)

    def _save_on_this_rank(self, is_main_process: bool) -> bool:
        should_save = getattr(self, "should_save_on_this_rank", None)
        return should_save(is_main_process) if should_save is not None else is_main_process

    def _write_card_if_absent(self, save_directory):
        path = os.path.join(os.fspath(save_directory), README_NAME)
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(self.model_card_text())

    def _save_tokenizer(self, save_directory):
        # A saved model folder carries its tokenizer, so pipeline(...) and the embedder's text methods just work.
        tokenizer = getattr(self, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.save_pretrained(save_directory)

    # ---- saving --------------------------------------------------------------------------------------------
    def save_pretrained(
        self, save_directory, is_main_process: bool = True, state_dict=None, push_to_hub: bool = False, *args, **kwargs
    ):
        auto_map = dict(getattr(self.config, "auto_map", None) or {})
        auto_map.update(self.AUTO_MAP)
        self.config.auto_map = auto_map
        save_on_this_rank = self._save_on_this_rank(is_main_process)
        # transformers' own push path would write its generic card over ours: save here, then push our way.
        hub = {name: kwargs.pop(name) for name in _HUB_KWARGS if name in kwargs} if push_to_hub else {}
        result = super().save_pretrained(save_directory, is_main_process, state_dict, False, *args, **kwargs)
        if save_on_this_rank and os.path.isdir(save_directory):
            self._write_card_if_absent(save_directory)
            self._save_tokenizer(save_directory)
            if push_to_hub:
                repo_id = hub.pop("repo_id", None) or os.path.basename(os.path.normpath(os.fspath(save_directory)))
                self.push_to_hub(repo_id, token=kwargs.get("token"), **hub)
        return result

    # ---- pushing -------------------------------------------------------------------------------------------
    @staticmethod
    def _ensure_branch(api: HfApi, repo_id: str, revision: str, create_pr: bool):
        # As transformers does: pushing to a branch that does not exist yet creates it (PR refs excepted).
        if revision is not None and not revision.startswith("refs/pr") and not create_pr:
            api.create_branch(repo_id=repo_id, branch=revision, exist_ok=True)

    def _card_for_repo(self, api: HfApi, repo_id: str, revision: str, tags) -> str:
        """Our freshly generated card, unless the repo already has a README somebody else wrote."""
        try:
            remote_path = api.hf_hub_download(repo_id=repo_id, filename=README_NAME, revision=revision)
        except (EntryNotFoundError, RevisionNotFoundError):
            return self.model_card_text(repo_id=repo_id, tags=tags)
        with open(remote_path, encoding="utf-8") as handle:
            remote_text = handle.read()
        remote = ModelCard(remote_text, ignore_metadata_errors=True)
        remote_tags = list(remote.data.tags or [])
        if CARD_MARKER in remote_text:
            # Ours from an earlier push: regenerate (the model may have changed), keeping tags added since.
            return self.model_card_text(repo_id=repo_id, tags=merge_tags(remote_tags, tags))
        remote.data.tags = merge_tags(remote_tags, self.model_card_tags(tags))
        return str(remote)

    def model_card_tags(self, tags=None) -> list:
        """The card's tags: hf_tinylm's own, then ``self.model_tags``, then ``tags``."""
        return merge_tags(BASE_TAGS, self.FAMILY_TAGS, getattr(self, "model_tags", None), tags)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str = None,
        private: bool = None,
        token=None,
        revision: str = None,
        create_pr: bool = False,
        max_shard_size="50GB",
        tags=None,
        **kwargs,
    ):
        """Upload the weights, config, modeling code and the generated model card (README.md) to ``repo_id``.

        Same arguments as transformers' ``push_to_hub``; ``kwargs`` takes ``commit_description`` and the save options
        ``variant``, ``state_dict``, ``save_original_format``. Returns the ``CommitInfo`` of the upload.
        """
        commit_description = kwargs.pop("commit_description", None)
        save_kwargs = {name: kwargs.pop(name) for name in _PUSH_SAVE_KWARGS if name in kwargs}
        if kwargs:
            raise TypeError(f"push_to_hub() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        self._ensure_branch(api, repo_id, revision, create_pr)
        card = self._card_for_repo(api, repo_id, revision, tags)
        with tempfile.TemporaryDirectory() as folder:
            # The card goes in first, so save_pretrained keeps it instead of generating a repo-less one.
            with open(os.path.join(folder, README_NAME), "w", encoding="utf-8") as handle:
                handle.write(card)
            self.save_pretrained(folder, max_shard_size=max_shard_size, **save_kwargs)
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                commit_message=commit_message or _default_commit_message(self),
                commit_description=commit_description,
                revision=revision,
                create_pr=create_pr,
            )
