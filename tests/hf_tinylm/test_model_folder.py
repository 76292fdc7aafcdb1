"""A damaged or incomplete model folder is named plainly, by file and reason, before transformers reads it."""

import json

import pytest
from model_factory import char_tokenizer, tiny_model

from hf_tinylm.model_folder import ModelFolderError, check_model_folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    model = tiny_model()
    model.save_pretrained(folder)
    char_tokenizer().save_pretrained(folder)
    return folder


def copy_of(saved, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(saved, target)
    return target


def test_a_sound_folder_passes(saved):
    check_model_folder(str(saved))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:-100]),
         "model.safetensors is truncated or corrupt: its header describes"),
        (lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 5), "model.safetensors is truncated or corrupt"),
        (lambda f: (f / "model.safetensors").write_bytes(b"\xff" * 64), "model.safetensors is truncated or corrupt"),
        (lambda f: (f / "config.json").write_text("{not json"), "config.json is not valid JSON"),
        (lambda f: (f / "config.json").write_text(json.dumps({"hidden_size": 3})), "has no model_type string"),
        (lambda f: (f / "config.json").unlink(), "is not a model folder: it has no config.json"),
        (lambda f: (f / "model.safetensors").unlink(), "has no weights"),
        (lambda f: [(f / name).unlink() for name in ("tokenizer.json", "tokenizer_config.json")],
         "has no tokenizer"),
    ],
    ids=["truncated", "tiny", "garbage", "config-not-json", "no-model-type", "no-config", "no-weights", "no-tokenizer"],
)
def test_each_damage_is_named(saved, tmp_path, damage, message):
    folder = copy_of(saved, tmp_path)
    damage(folder)
    with pytest.raises(ModelFolderError, match=message):
        check_model_folder(str(folder))


def test_not_a_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="is not a folder"):
        check_model_folder(str(tmp_path / "missing"))
