"""The evaluation harness (hf_tinylm.evaluation.harness) on TinyLM, GPT-2, Llama and HFShell-wrapped models."""

import json
import math
import random

import pytest
import torch
from model_factory import CHAR_EOS, char_tokenizer, tiny_model
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
)
from transformers.modeling_outputs import CausalLMOutput

from experimental.hf_adapter import HFShell
from hf_tinylm.evaluation import (
    TaskFormatError,
    cloze_items,
    generation_speed,
    load_bigbench_task,
    mcq_accuracy,
    mcq_scores,
    parameter_counts,
    validation_metrics,
)
from hf_tinylm.model_card import count_parameters

VOCAB = 97


@pytest.fixture(scope="module")
def tok():
    return char_tokenizer()


def tiny_gpt2(seed=0):
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                        bos_token_id=CHAR_EOS, eos_token_id=CHAR_EOS)
    return GPT2LMHeadModel(config).eval()


def tiny_llama(tied=True, seed=0):
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=tied, bos_token_id=CHAR_EOS, eos_token_id=CHAR_EOS)
    return LlamaForCausalLM(config).eval()


class Favourite(nn.Module):
    """A test double: the same logits at every position, ``favourite`` 10 nats above the rest (or all equal)."""

    def __init__(self, favourite=None):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(VOCAB))
        if favourite is not None:
            with torch.no_grad():
                self.bias[favourite] = 10.0

    def forward(self, input_ids, attention_mask=None):
        return CausalLMOutput(logits=self.bias.expand(*input_ids.shape, VOCAB))


def sequence_log_prob(model, ids: list, scored: int) -> float:
    """Σ log p of the last ``scored`` tokens of ``ids``, one unpadded forward, a plain loop over positions."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    total = 0.0
    for position in range(len(ids) - scored, len(ids)):
        total += float(torch.log_softmax(logits[position - 1], dim=-1)[ids[position]])
    return total


# ---- validation metrics --------------------------------------------------------------------------------------


def test_validation_metrics_match_a_hand_computation(tok):
    model = tiny_model()
    text = "The quick brown fox jumps over the lazy dog."  # 44 characters: windows of 15 after the start id
    ids = tok.encode(text, add_special_tokens=False)
    total = 0.0
    for start in range(0, len(ids), 15):
        piece = [CHAR_EOS] + ids[start : start + 15]
        total -= sequence_log_prob(model, piece, len(piece) - 1)
    scores = validation_metrics(model, tok, text, window=16, batch_size=2)
    assert scores["tokens"] == len(ids) == 44 and scores["bytes"] == 44
    assert scores["val_loss"] == pytest.approx(total / 44, rel=1e-5)
    assert scores["perplexity"] == pytest.approx(math.exp(total / 44), rel=1e-5)
    assert scores["bits_per_byte"] == pytest.approx(total / 44 / math.log(2), rel=1e-5)


def test_bits_per_byte_divides_by_utf8_bytes(tok):
    text = "héllo wörld, 5 €"  # 16 characters (one token each here), 20 UTF-8 bytes
    scores = validation_metrics(Favourite(), tok, text)
    assert (scores["tokens"], scores["bytes"]) == (16, 20)
    assert scores["val_loss"] == pytest.approx(math.log(VOCAB))  # uniform: ln 97 per token
    assert scores["perplexity"] == pytest.approx(VOCAB)
    assert scores["bits_per_byte"] == pytest.approx(16 * math.log2(VOCAB) / 20)


# ---- multiple choice -----------------------------------------------------------------------------------------

ITEMS = [
    {"context": "Pick a letter: ", "choices": ["b", "a", "c"], "answer": 1},
    {"context": "Another one:", "choices": [" a", " b"], "answer": 0},
    {"context": "", "choices": ["c", "a"], "answer": 1},
]


def test_a_rigged_model_gets_every_item_right_or_wrong(tok):
    assert mcq_accuracy(Favourite(tok.convert_tokens_to_ids("a")), tok, ITEMS) == 1.0
    assert mcq_accuracy(Favourite(tok.convert_tokens_to_ids("b")), tok, ITEMS[:2]) == 0.0
    # Equal scores (a uniform model, choices of equal length): the first choice wins.
    uniform = mcq_scores(Favourite(), tok, ITEMS)
    assert uniform[0][0] == uniform[0][1] == uniform[0][2]
    assert mcq_accuracy(Favourite(), tok, ITEMS) == pytest.approx(1 / 3)  # only item 1's answer is its first choice


def _varied_items(seed=0, n=4):
    rng = random.Random(seed)
    letters = "abcdefghij klmnop"
    items = []
    for _ in range(n):
        context = "".join(rng.choice(letters) for _ in range(rng.randint(0, 30)))
        choices = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 6))) for _ in range(3)]
        items.append({"context": context, "choices": choices, "answer": 0})
    return items


@pytest.mark.parametrize("family", ["tinylm", "gpt2", "llama"])
def test_scores_are_context_then_choice_log_likelihoods_batched_or_not(tok, family):
    model = {"tinylm": tiny_model, "gpt2": tiny_gpt2, "llama": tiny_llama}[family]()
    items = _varied_items()
    one_by_one = mcq_scores(model, tok, items, batch_size=1)
    batched = mcq_scores(model, tok, items, batch_size=5)  # rows of several lengths in one batch
    torch.testing.assert_close(torch.tensor(batched), torch.tensor(one_by_one), atol=1e-4, rtol=1e-5)
    for item, scores in zip(items, one_by_one):
        context = item["context"].rstrip()  # trailing spaces move to the choice
        moved = item["context"][len(context):]
        for choice, score in zip(item["choices"], scores):
            ids = [CHAR_EOS] + tok.encode(context + moved + choice, add_special_tokens=False)
            assert score == pytest.approx(sequence_log_prob(model, ids, len(moved + choice)), abs=1e-4)


def test_a_wrapped_model_scores_like_the_model(tok):
    model = tiny_gpt2()
    items = _varied_items(seed=1)
    torch.testing.assert_close(torch.tensor(mcq_scores(HFShell(model, tok), tok, items)),
                               torch.tensor(mcq_scores(model, tok, items)))


def test_long_contexts_lose_their_beginning(tok):
    model = tiny_model()  # a 64-token window
    context = "".join(random.Random(0).choice("abcdefgh ") for _ in range(200)) + "."
    items = [{"context": context, "choices": ["xyz", "q"], "answer": 0}]
    scores = mcq_scores(model, tok, items)[0]
    for choice, score in zip(items[0]["choices"], scores):
        ids = ([CHAR_EOS] + tok.encode(context + choice, add_special_tokens=False))[-65:][:-1]  # inputs: 64
        targets = tok.encode(context + choice, add_special_tokens=False)[-65:]
        with torch.no_grad():
            log_probs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0], dim=-1)
        expected = sum(float(log_probs[p, targets[p + 1]]) for p in range(64 - len(choice), 64))
        assert score == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="more than the model's window 64"):
        mcq_scores(model, tok, [{"context": "a", "choices": ["b" * 65], "answer": 0}])


class MergingTokenizer:
    """Characters, except that "ab" is one token (id 95): encode("xa" + "b") does not start with encode("xa")."""

    bos_token_id, eos_token_id, pad_token_id = None, CHAR_EOS, None

    def __init__(self):
        self.chars = char_tokenizer()

    def encode(self, text, add_special_tokens=False):
        ids, position = [], 0
        while position < len(text):
            if text.startswith("ab", position):
                ids.append(95)
                position += 2
            else:
                ids += self.chars.encode(text[position], add_special_tokens=False)
                position += 1
        return ids


def test_a_choice_merging_with_its_context_is_scored_from_its_own_tokens(tok):
    model, merging = tiny_model(), MergingTokenizer()
    score = mcq_scores(model, merging, [{"context": "xa", "choices": ["b"], "answer": 0}])[0][0]
    ids = [CHAR_EOS] + merging.encode("xa") + merging.encode("b")
    assert score == pytest.approx(sequence_log_prob(model, ids, 1), abs=1e-5)


def test_malformed_items_are_rejected(tok):
    model = Favourite()
    for bad, message in [
        ({"context": 3, "choices": ["a"], "answer": 0}, "item 0: context"),
        ({"context": "x", "choices": [], "answer": 0}, "item 0: choices"),
        ({"context": "x", "choices": ["a", ""], "answer": 0}, "item 0: choices"),
        ({"context": "x", "choices": ["a", "b"], "answer": 2}, "item 0: answer=2"),
    ]:
        with pytest.raises(ValueError, match=message):
            mcq_scores(model, tok, [bad])
    with pytest.raises(ValueError, match="items is empty"):
        mcq_accuracy(model, tok, [])


# ---- cloze items ---------------------------------------------------------------------------------------------

WORDS = ("the a cat dog sat ran over under quickly slowly house garden river bright dark little "
         "old young stone window door morning evening walked jumped").split()


def synthetic_text(n_sentences=120, seed=1):
    rng = random.Random(seed)
    sentences = []
    for _ in range(n_sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 12))]
        sentences.append(" ".join(words).capitalize() + rng.choice(".!?"))
    return "\n".join(sentences)


def test_cloze_items_are_deterministic_and_well_formed():
    text = synthetic_text()
    items = cloze_items(text, n_items=50, n_choices=4, seed=3)
    assert items == cloze_items(text, n_items=50, n_choices=4, seed=3)
    assert items != cloze_items(text, n_items=50, n_choices=4, seed=4)
    assert len(items) == 50
    flat = " ".join(text.split())
    for item in items:
        choices, answer = item["choices"], item["answer"]
        assert len(choices) == 4 and len({choice.lower() for choice in choices}) == 4
        assert 0 <= answer < 4 and all(choice.startswith(" ") and choice[1:].isalpha() for choice in choices)
        assert item["context"] + choices[answer] in flat  # the sentence, up to its last word
        assert all(choice[1:].lower() in WORDS for choice in choices)  # distractors come from the text
    assert len({item["answer"] for item in items}) > 1  # the right choice is not always in the same place


def test_cloze_items_need_enough_text():
    with pytest.raises(ValueError, match="gives 10 cloze sentences.*n_items=11"):
        cloze_items(synthetic_text(10), n_items=11)
    with pytest.raises(ValueError, match="n_choices=1"):
        cloze_items(synthetic_text(), n_choices=1)
    with pytest.raises(ValueError, match="distinct words"):
        cloze_items("One two three four five six. " * 3, n_items=1, n_choices=7)


# ---- BIG-bench task files ------------------------------------------------------------------------------------

TASK = {
    "name": "tiny_task",
    "task_prefix": "Answer the questions.\n",
    "examples": [
        {"input": "2 + 2 =", "target_scores": {"4": 1, "5": 0, "22": 0}},
        {"input": "The sky is", "target_scores": {"green": 0.0, "blue": 1.0}},
        {"input": "Cats say", "target_scores": {"meow": 1, "woof": 0}},
    ],
}


def _write(tmp_path, data, name="task.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_bigbench_task_loads_as_items(tmp_path, tok):
    path = _write(tmp_path, TASK)
    name, items = load_bigbench_task(path)
    assert name == "tiny_task" and len(items) == 3
    assert items[0] == {
        "context": "Answer the questions.\n\nQ: 2 + 2 =\n  choice: 22\n  choice: 4\n  choice: 5\nA: ",
        "choices": ["4", "5", "22"],
        "answer": 0,
    }
    assert items[1]["choices"] == ["green", "blue"] and items[1]["answer"] == 1
    assert load_bigbench_task(tmp_path, max_examples=2) == (name, items[:2])  # a folder holding task.json
    plain = dict(TASK, example_input_prefix="", example_output_prefix=" ", append_choices_to_input=False)
    del plain["name"]
    (tmp_path / "my_task").mkdir()
    name, items = load_bigbench_task(_write(tmp_path / "my_task", plain, "plain.json"))
    assert name == "my_task"  # no "name": the folder's
    assert items[2]["context"] == "Answer the questions.\nCats say "
    assert 0.0 <= mcq_accuracy(tiny_model(), tok, items) <= 1.0


@pytest.mark.parametrize("content, index, problem", [
    (None, None, "no such file"),
    ("{not json", None, "not valid JSON"),
    ([1, 2], None, "top level is a list"),
    ({"name": "t"}, None, "no examples"),
    ({"name": "t", "examples": []}, None, "no examples"),
    ({"examples": [{"target_scores": {"a": 1}}]}, 0, "has no 'input'"),
    ({"examples": [TASK["examples"][0], {"input": "q"}]}, 1, "has no 'target_scores'"),
    ({"examples": [TASK["examples"][0], "q"]}, 1, "not an object"),
    ({"examples": [{"input": 7, "target_scores": {"a": 1}}]}, 0, "'input' is a int"),
    ({"examples": [{"input": "q", "target_scores": ["a", "b"]}]}, 0, "not a non-empty mapping"),
    ({"examples": [{"input": "q", "target_scores": {}}]}, 0, "not a non-empty mapping"),
    ({"examples": [{"input": "q", "target_scores": {"a": "high", "b": 0}}]}, 0, "target_scores['a'] is 'high'"),
    ({"examples": [{"input": "q", "target_scores": {"a": True}}]}, 0, "not a finite number"),
    ({"examples": [TASK["examples"][1], {"input": "q", "target_scores": {"a": 1, "b": 1, "c": 0}}]}, 1,
     "no unique best choice: 'a', 'b' all score 1"),
])
def test_malformed_task_files_say_where_and_what(tmp_path, content, index, problem):
    path = tmp_path / "task.json" if content is None else _write(tmp_path, content)
    with pytest.raises(TaskFormatError) as caught:
        load_bigbench_task(path)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError) and "\n" not in message
    assert message.startswith(f"{path}: ") and problem in message
    if index is not None:
        assert f": example {index}: " in message


# ---- generation speed and parameter counts -------------------------------------------------------------------


def test_generation_speed_times_exactly_new_tokens_greedy(tok):
    for model in (tiny_model(), HFShell(tiny_gpt2(), tok)):
        produced = []
        generate = model.generate

        def recording(*args, **kwargs):
            assert kwargs["do_sample"] is False and kwargs["pad_token_id"] == CHAR_EOS
            out = generate(*args, **kwargs)
            produced.append(out.shape[1] - args[0].shape[1])
            return out

        model.generate = recording
        speed = generation_speed(model, tok, new_tokens=6, repeats=2)
        assert isinstance(speed, float) and speed > 0
        assert produced == [6, 6, 6]  # a warm-up call, then two timed ones; never stopped early by end-of-text
    with pytest.raises(ValueError, match="new_tokens=64"):
        generation_speed(tiny_model(), tok, new_tokens=64)


def test_parameter_counts_by_hand(tmp_path, tok):
    embedding = VOCAB * 32
    per_layer = 32 * 32 + 2 * (32 * 16) + 32 * 32 + 3 * 32 * 64 + 2 * 32  # q, k and v (2 kv heads), o, MLP, norms
    non_embedding = 2 * per_layer + 32  # two layers and the final norm
    tied, untied = tiny_llama(tied=True), tiny_llama(tied=False)
    assert parameter_counts(tied) == {"params": embedding + non_embedding, "non_embedding_params": non_embedding}
    assert parameter_counts(untied) == {"params": 2 * embedding + non_embedding, "non_embedding_params": non_embedding}
    naive = sum(tensor.numel() for tensor in tied.state_dict().values())
    assert naive == 2 * embedding + non_embedding  # the state dict lists the tied table twice; the count once
    untied.save_pretrained(tmp_path / "llama")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "llama")
    assert parameter_counts(reloaded) == parameter_counts(untied) == parameter_counts(HFShell(reloaded, tok))
    gpt2 = tiny_gpt2()  # learned positions (wpe, 64 × 32) count as embedding
    total = sum(parameter.numel() for parameter in gpt2.parameters())
    assert parameter_counts(gpt2) == {"params": total, "non_embedding_params": total - embedding - 64 * 32}
    assert parameter_counts(HFShell(gpt2, tok)) == parameter_counts(gpt2)
    model = tiny_model()
    counts = count_parameters(model)
    assert parameter_counts(model) == {"params": counts["total"], "non_embedding_params": counts["non_embedding"]}
