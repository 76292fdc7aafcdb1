"""Saving a TinyLM-family model: an ``auto_map`` for all three Auto classes, its tokenizer and a model card.

Part of the modeling set copied next to saved weights, so it imports nothing of the project at module level. The
model card (``hf_tinylm.model_card``) and the Hub rules for it (``hf_tinylm.hub``) are reached inside
``try``/``except ImportError`` (transformers' remote-code import check skips ``try`` blocks): a model loaded with
``trust_remote_code=True`` where hf_tinylm is not installed saves without writing a card and pushes with
transformers' generic one.
"""

import os

README_NAME = "README.md"
# Keywords of save_pretrained(push_to_hub=True) that belong to the push, not to the local save.
_PUSH_KWARGS = ("repo_id", "commit_message", "commit_description", "create_pr", "private", "revision", "tags")


class SavingMixin:
    """Mixed into each family's ``PreTrainedModel`` before transformers' class.

    transformers' ``auto_map`` names only the saved class; ``AUTO_MAP`` ({Auto class: "module_file.ClassName"}, as
    the files lie flat next to the weights) adds the other two. Each family's modeling file sets its own.
    """

    AUTO_MAP = {}

    def _saves_on_this_rank(self, is_main_process: bool) -> bool:
        should_save = getattr(self, "should_save_on_this_rank", None)
        return should_save(is_main_process) if should_save is not None else is_main_process

    def save_pretrained(
        self, save_directory, is_main_process: bool = True, state_dict=None, push_to_hub: bool = False, *args, **kwargs
    ):
        """transformers' save_pretrained, plus the auto_map, the attached tokenizer and (once) a model card.

        A README.md already in ``save_directory`` is never overwritten. ``push_to_hub=True`` saves here, then pushes
        through ``push_to_hub`` (transformers' own path would upload its generic card instead of ours).
        """
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **self.AUTO_MAP}
        push = {name: kwargs.pop(name) for name in _PUSH_KWARGS if name in kwargs} if push_to_hub else {}
        result = super().save_pretrained(save_directory, is_main_process, state_dict, False, *args, **kwargs)
        if not (self._saves_on_this_rank(is_main_process) and os.path.isdir(save_directory)):
            return result
        tokenizer = getattr(self, "tokenizer", None)
        if tokenizer is not None:
            # pipeline(...) and the embedder's text methods find it beside the weights.
            tokenizer.save_pretrained(save_directory)
        card_path = os.path.join(os.fspath(save_directory), README_NAME)
        if not os.path.exists(card_path):
            try:
                from hf_tinylm.model_card import model_card_text
            except ImportError:
                pass  # hf_tinylm is not installed (a folder loaded with trust_remote_code): no card
            else:
                with open(card_path, "w", encoding="utf-8") as handle:
                    handle.write(model_card_text(self))
        if push_to_hub:
            repo_id = push.pop("repo_id", None) or os.path.basename(os.path.normpath(os.fspath(save_directory)))
            self.push_to_hub(repo_id, token=kwargs.get("token"), **push)
        return result

    def push_to_hub(self, repo_id: str, *args, **kwargs):
        """transformers' ``push_to_hub``, after pushing our model card to ``repo_id`` (rules in ``hf_tinylm.hub``)."""
        try:
            from hf_tinylm.hub import push_model_card
        except ImportError:
            pass  # hf_tinylm is not installed: transformers' generic card
        else:
            card_options = ("token", "private", "revision", "create_pr", "tags")
            push_model_card(self, repo_id, **{name: kwargs[name] for name in card_options if name in kwargs})
        return super().push_to_hub(repo_id, *args, **kwargs)


# The name before hub.py and saving.py split (``hf_tinylm/sharing.py``); "sharing" elsewhere means FFN sharing.
SharingMixin = SavingMixin
