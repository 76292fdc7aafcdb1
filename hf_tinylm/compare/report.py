"""``tinylm compare``'s report: ``report.md`` (a table, the plots inline) and the PNG plots."""

import os

from tokenizers_ext.atomic_files import atomic_write_text, staged_file

PLOTS = {"loss": "loss_vs_tokens.png", "quality": "quality_vs_params.png", "speed": "speed.png"}


def _cell(row: dict, field: str, digits: int) -> str:
    value = row.get(field)
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    spread = row.get("std", {}).get(field)
    return f"{text} ± {spread:,.{digits}f}" if spread is not None else text


def _accuracy_cell(row: dict, task: str) -> str:
    value = row["mcq_accuracy"].get(task)
    if value is None:
        return "–"
    spread = row.get("std", {}).get(f"mcq_accuracy.{task}")
    return f"{100 * value:.1f}%" + (f" ± {100 * spread:.1f}" if spread is not None else "")


def markdown_table(report: dict) -> str:
    tasks = list(dict.fromkeys(task for row in report["models"] for task in row["mcq_accuracy"]))
    header = ["model", "family", "params", "non-emb.", "val loss", "ppl", "bits/byte",
              *[f"{task} acc." for task in tasks], "train tok/s", "gen tok/s", "peak MB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["models"]:
        cells = [row["name"], row["family"], f"{row['params']:,}", f"{row['non_embedding_params']:,}",
                 _cell(row, "val_loss", 3), _cell(row, "perplexity", 1), _cell(row, "bits_per_byte", 3),
                 *[_accuracy_cell(row, task) for task in tasks], _cell(row, "train_tokens_per_s", 0),
                 _cell(row, "generate_tokens_per_s", 0), _cell(row, "peak_memory_mb", 0)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_markdown(path: str, report: dict, plots: dict):
    unigram = report["unigram_entropy"]
    hardware = report["hardware"]
    versions = ", ".join(f"{name} {version}" for name, version in report["versions"].items() if version)
    parts = [
        "# tinylm compare",
        "",
        f"Command: `{report['command']}`",
        "",
        markdown_table(report),
        "",
        f"Unigram baseline (the validation text under the training split's token frequencies): "
        f"{unigram['nats_per_token']:.3f} nats/token, {unigram['bits_per_byte']:.3f} bits/byte. "
        f"A model's validation loss well below it means it learned more than token frequencies.",
        "",
        f"- Budget: {report['budget']}; seeds: {report['seeds']}"
        + (" (figures are mean ± standard deviation)" if report["seeds"] > 1 else ""),
        f"- Data: {report['data']}; validation text: {report['validation_bytes']:,} bytes (validation.txt)",
        f"- Hardware: {hardware['cpu']}, {hardware['cpu_count']} cores, {hardware['torch_threads']} torch threads, "
        f"{hardware['device']}" + (f" ({hardware['gpu']})" if "gpu" in hardware else ""),
        f"- Versions: {versions}",
        "- Loss and perplexity are per token of each model's own tokenizer; bits per byte compare across "
        "tokenizers. Accuracies: multiple choice by log-likelihood. Speeds: training tokens/s during optimizer "
        "steps, greedy generation tokens/s at batch 1; peak MB: the process's peak resident memory while training.",
    ]
    if report["missing"]:
        parts += ["", f"**Partial report** — still missing: {', '.join(report['missing'])}. Rerun the same "
                      f"command with --resume to finish; finished models are reused."]
    for title, key in (("Validation loss against tokens seen", "loss"), ("Quality against parameters", "quality"),
                       ("Speed", "speed")):
        if plots.get(key):
            parts += ["", f"## {title}", "", f"![{title}]({plots[key]})"]
    atomic_write_text(path, "\n".join(parts) + "\n")


def write_plots(out: str, rows: list, unigram: dict) -> dict:
    """The three PNG plots (file names relative to ``out``); skipped when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = {}

    def save(figure, key):
        path = os.path.join(out, PLOTS[key])
        figure.tight_layout()
        with staged_file(path) as staged:
            figure.savefig(staged, dpi=110)
        plt.close(figure)
        written[key] = PLOTS[key]

    trained = [row for row in rows if any(row["eval_curves"])]
    if trained:
        figure, axis = plt.subplots(figsize=(7, 4.2))
        for row in trained:
            for index, curve in enumerate(row["eval_curves"]):
                if curve:
                    tokens, losses = zip(*curve)
                    axis.plot(tokens, losses, "o-", markersize=3, label=row["name"] if index == 0 else None)
        axis.axhline(unigram["nats_per_token"], color="grey", linestyle="--", label="unigram baseline")
        axis.set_xlabel("training tokens seen")
        axis.set_ylabel("validation loss (nats per token)")
        axis.set_title("Validation loss during training")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        save(figure, "loss")
    if rows:
        figure, axis = plt.subplots(figsize=(7, 4.2))
        for row in rows:
            axis.scatter(row["non_embedding_params"], row["bits_per_byte"], s=40)
            axis.annotate(row["name"], (row["non_embedding_params"], row["bits_per_byte"]), fontsize=8,
                          xytext=(4, 4), textcoords="offset points")
        axis.axhline(unigram["bits_per_byte"], color="grey", linestyle="--", label="unigram baseline")
        axis.set_xscale("log")
        axis.set_xlabel("non-embedding parameters")
        axis.set_ylabel("validation bits per byte (lower is better)")
        axis.set_title("Quality against parameters")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        save(figure, "quality")

        figure, axis = plt.subplots(figsize=(7, 4.2))
        names = [row["name"] for row in rows]
        positions = range(len(rows))
        width = 0.4
        axis.bar([p - width / 2 for p in positions], [row["train_tokens_per_s"] or 0 for row in rows], width,
                 label="training tokens/s")
        axis.bar([p + width / 2 for p in positions], [row["generate_tokens_per_s"] or 0 for row in rows], width,
                 label="generation tokens/s (batch 1)")
        axis.set_xticks(list(positions))
        axis.set_xticklabels(names, rotation=20, fontsize=8)
        axis.set_yscale("log")
        axis.set_ylabel("tokens per second")
        axis.set_title("Speed", pad=28)
        axis.grid(alpha=0.3, axis="y")
        axis.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=2, frameon=False)
        save(figure, "speed")
    return written
