"""``tinylm generate DIR --prompt ...`` on a tiny saved model with its tokenizer."""

from pathlib import Path

import pytest
from model_factory import char_tokenizer, tiny_model

from tinylm_cli.main import main
from hf_tinylm.generation import GreedyGenerator, Sampler

PROMPT = "Once upon a time"


def saved_char_tokenizer(folder):
    tokenizer = char_tokenizer()
    tokenizer.save_pretrained(folder)
    return tokenizer


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-model")
    model = tiny_model()
    model.save_pretrained(folder)
    return str(folder), model, saved_char_tokenizer(folder)


def run(capsys, *argv):
    code = main(["generate", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_greedy_by_default(saved, capsys):
    folder, model, tokenizer = saved
    expected = GreedyGenerator(model, tokenizer).generate(PROMPT, 12)[0]
    code, out, _ = run(capsys, folder, "--prompt", PROMPT, "--max-new-tokens", "12")
    assert code == 0 and out == PROMPT + expected + "\n"
    code, streamed, _ = run(capsys, folder, "--prompt", PROMPT, "--max-new-tokens", "12", "--stream")
    assert code == 0 and streamed == out


def test_sampling_options_and_seed(saved, capsys):
    folder, model, tokenizer = saved
    options = ["--top-k", "20", "--top-p", "0.9", "--temperature", "0.8", "--seed", "4", "--max-new-tokens", "16"]
    expected = Sampler(model, tokenizer, top_k=20, top_p=0.9, temperature=0.8, seed=4).generate(PROMPT, 16)[0]
    _, first, _ = run(capsys, folder, "--prompt", PROMPT, *options)
    _, second, _ = run(capsys, folder, "--prompt", PROMPT, *options, "--stream")
    assert first == second == PROMPT + expected + "\n"


def test_stop_string(saved, capsys):
    folder, model, tokenizer = saved
    free = GreedyGenerator(model, tokenizer, ignore_eos=True).generate(PROMPT, 20)[0]
    stop = free[6:8]
    _, out, _ = run(capsys, folder, "--prompt", PROMPT, "--max-new-tokens", "20", "--stop", stop, "--stop", "zzzz")
    assert out == PROMPT + free[: free.index(stop)] + "\n"
    _, streamed, _ = run(capsys, folder, "--prompt", PROMPT, "--max-new-tokens", "20", "--stop", stop, "--stream")
    assert streamed == out


def test_missing_folder_and_bad_option(saved, tmp_path, capsys):
    code, _, err = run(capsys, str(tmp_path / "nowhere"), "--prompt", "x")
    assert code == 2 and "nowhere is not a folder" in err
    code, _, err = run(capsys, str(tmp_path), "--prompt", "x")  # a folder without a model
    assert code == 2 and "tinylm generate: error" in err and "is not a model folder: it has no config.json" in err
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for path in Path(saved[0]).iterdir():
        (damaged / path.name).write_bytes(path.read_bytes())
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    code, out, err = run(capsys, str(damaged), "--prompt", "x")
    assert code == 2 and out == "" and "model.safetensors is truncated or corrupt" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit:  # an argument error: argparse's, one line, before any loading
        run(capsys, saved[0], "--prompt", "x", "--top-k", "0")
    err = capsys.readouterr().err
    assert exit.value.code == 2 and "--top-k: 0 is invalid" in err and len(err.strip().splitlines()) == 1


def test_help_says_greedy_unless_sampling(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert "greedy unless a sampling option is given" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, mode",
    [([], None), (["--compile"], "default"), (["--compile-mode", "max-autotune"], "max-autotune"),
     (["--compile", "--compile-mode", "default"], "default")],
)
def test_compile_flags_choose_the_compile_mode(saved, flags, mode):
    import argparse

    from hf_tinylm.generation.cli import build_generator
    from tinylm_cli.generate import add_generate_subparser

    parser = argparse.ArgumentParser()
    add_generate_subparser(parser.add_subparsers())
    args = parser.parse_args(["generate", saved[0], "--prompt", "x", *flags])
    assert build_generator(saved[1], saved[2], args).decoder.compile_mode == mode


def test_unknown_compile_mode_is_refused(saved, capsys):
    with pytest.raises(SystemExit):
        main(["generate", saved[0], "--prompt", "x", "--compile-mode", "fastest"])
    assert "invalid choice: 'fastest'" in capsys.readouterr().err
