"""`arith-toy`: a small transformer trained here to really add, so probes have something to find.

`python -m interp.toy --out DIR` (`interp.cli.toy`) trains it from scratch on 1-4 digit addition
in the probe task's own format (`a+b=c` lines, packed several to a
sequence so zero- and few-shot prompts both work; operands zero-padded to 4
digits and answers to 5, `0012+0035=00047`, which lets a 3-layer model line
up the columns) and writes a Hugging Face
folder that `load_model` reads like any other. The committed checkpoint in
`interp/checkpoints/arith-toy` was made by this command with the defaults.

Held-out means never trained on: a pair (a, b) whose hash falls in the
held-out bucket is resampled out of every training batch.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Bool, Int
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from torch import Tensor
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from interp.models.builtins import TRAINED
from interp.models.loading import TASK_FILE
from interp.tasks.arithmetic import ArithmeticConfig, operands

CHECKPOINT = TRAINED["arith-toy"]
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", *"0123456789+-*=\n "]


def char_tokenizer():
    """A Hugging Face fast tokenizer with one token per character (no BOS added)."""
    tk = Tokenizer(models.WordLevel(vocab={c: i for i, c in enumerate(VOCAB)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.decoder = decoders.Fuse()  # decode to the text itself, not tokens joined by spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


@dataclass(frozen=True)
class ToyConfig:
    digits: int = 4  # operands of 1..digits digits, written zero-padded to this width
    per_seq: int = 4  # problems packed per training sequence (a few-shot prompt's shape)
    n_layers: int = 3
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    steps: int = 2000
    batch_size: int = 64  # sequences per step
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.01
    heldout_bucket: int = 10  # pairs with hash % bucket == 0 are held out
    eval_n: int = 4000
    seed: int = 0


def is_heldout(a: np.ndarray, b: np.ndarray, bucket: int) -> Bool[np.ndarray, " n"]:
    # A fixed integer hash (not Python's salted hash): the same pairs on every machine.
    h = (a.astype(np.int64) * 1_000_003 + b.astype(np.int64) * 7919 + 12345) % 1_000_000_007
    return (h * 2654435761 % 2**32) % bucket == 0


def sample_pairs(rng: np.random.Generator, cfg: ToyConfig, n: int, heldout: bool):
    """n pairs all inside (heldout=True) or all outside the held-out bucket."""
    a, b = np.empty(0, np.int64), np.empty(0, np.int64)
    while len(a) < n:
        fmt = task_format(cfg.digits)  # the probe task's operand distribution, same random stream
        x, y = operands(rng, fmt, 2 * n), operands(rng, fmt, 2 * n)
        keep = is_heldout(x, y, cfg.heldout_bucket) == heldout
        a, b = np.concatenate([a, x[keep]]), np.concatenate([b, y[keep]])
    return a[:n], b[:n]


def task_format(digits: int = ToyConfig.digits) -> ArithmeticConfig:
    """The probe task's format the toy is trained in; saved beside the weights as its task defaults."""
    return ArithmeticConfig(digits=(1, digits), pad=digits)


def encode_batch(
    a: np.ndarray, b: np.ndarray, per_seq: int, digits: int = ToyConfig.digits
) -> tuple[Int[Tensor, "n seq"], Bool[Tensor, "n seq"]]:
    """Pack per_seq problems a line each; mask marks the answer tokens (digits and newline)."""
    stoi = {c: i for i, c in enumerate(VOCAB)}
    fmt = task_format(digits)
    rows, masks = [], []
    for s in range(0, len(a), per_seq):
        ids, mask = [], []
        for x, y in zip(a[s : s + per_seq], b[s : s + per_seq], strict=True):
            q = fmt.format(int(x), int(y))
            ans = fmt.format(int(x), int(y), int(x + y))[len(q) :]
            ids += [stoi[c] for c in q + ans]
            mask += [False] * len(q) + [True] * len(ans)
        rows.append(ids)
        masks.append(mask)
    width = max(map(len, rows))
    ids = torch.zeros(len(rows), width, dtype=torch.long, device="cpu")
    m = torch.zeros(len(rows), width, dtype=torch.bool, device="cpu")
    for i, (r, k) in enumerate(zip(rows, masks, strict=True)):
        ids[i, : len(r)], m[i, : len(k)] = torch.tensor(r, device="cpu"), torch.tensor(k, device="cpu")
    return ids, m


def build(cfg: ToyConfig):
    hf_cfg = LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=cfg.d_model,
        intermediate_size=cfg.d_mlp,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_heads,
        max_position_embeddings=256,
        rope_theta=10000.0,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=False,
    )
    torch.manual_seed(cfg.seed)
    with torch.device("cpu"):  # the same seed gives the same weights wherever the model then trains
        return LlamaForCausalLM(hf_cfg)


@torch.no_grad()
def exact_match(
    model, a: np.ndarray, b: np.ndarray, per_seq: int = 1, batch: int = 512, digits: int = ToyConfig.digits
) -> np.ndarray:
    """Per-problem greedy exact match.

    Greedy decoding reproduces the answer iff every answer token (and the
    closing newline) is the argmax given the right prefix, so one teacher-forced
    forward decides it.
    """
    model.eval()
    ok = []
    dev = next(model.parameters()).device
    for s in range(0, len(a), batch * per_seq):
        ids, m = encode_batch(a[s : s + batch * per_seq], b[s : s + batch * per_seq], per_seq, digits)
        pred = model(ids.to(dev)).logits[:, :-1].argmax(-1).cpu()
        right = (pred == ids[:, 1:]) | ~m[:, 1:]
        # Split each row back into its problems: a problem ends at its newline.
        for r in range(ids.shape[0]):
            ends = (ids[r, 1:] == VOCAB.index("\n")).nonzero().flatten().tolist()
            start = 0
            for e in ends:
                ok.append(bool(right[r, start : e + 1].all()))
                start = e + 1
    return np.array(ok)


def train(cfg: ToyConfig, progress: bool | None = None, device: str | torch.device = "cpu"):
    """Train from scratch on `device`; returns (model, log). Deterministic for a given cfg on one machine."""
    model = build(cfg).to(device)
    rng = np.random.default_rng(cfg.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    other = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.98),
    )

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        return 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    ea, eb = sample_pairs(np.random.default_rng(cfg.seed + 1), cfg, cfg.eval_n // 4, heldout=True)
    log = {"loss": [], "eval": []}
    bar = tqdm(range(cfg.steps), desc="arith-toy", disable=None if progress is None else not progress)
    t0 = time.perf_counter()
    for step in bar:
        model.train()
        a, b = sample_pairs(rng, cfg, cfg.batch_size * cfg.per_seq, heldout=False)
        ids, m = encode_batch(a, b, cfg.per_seq, cfg.digits)
        ids, m = ids.to(device), m.to(device)
        logits = model(ids).logits[:, :-1]
        tgt = ids[:, 1:].masked_fill(~m[:, 1:], -100)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        log["loss"].append(loss.item())
        if (step + 1) % 250 == 0 or step + 1 == cfg.steps:
            acc = float(exact_match(model, ea, eb, digits=cfg.digits).mean())
            log["eval"].append({"step": step + 1, "heldout_exact": acc, "seconds": time.perf_counter() - t0})
            bar.set_postfix(loss=f"{loss.item():.4f}", heldout=f"{acc:.4f}")
    log["train_seconds"] = time.perf_counter() - t0
    return model, log


def evaluate(model, cfg: ToyConfig) -> dict:
    """Held-out exact match overall and by the longer operand's length (fresh seed)."""
    a, b = sample_pairs(np.random.default_rng(cfg.seed + 2), cfg, cfg.eval_n, heldout=True)
    ok = exact_match(model, a, b, digits=cfg.digits)
    length = np.maximum([len(str(x)) for x in a], [len(str(x)) for x in b])
    return {
        "heldout_exact": float(ok.mean()),
        "n": int(len(ok)),
        "by_operand_digits": {int(k): float(ok[length == k].mean()) for k in np.unique(length)},
    }


def save(model, cfg: ToyConfig, log: dict, report: dict, out: Path, command: str) -> None:
    """Write to a scratch folder, then rename into place: never a half-written checkpoint."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.to("cpu").save_pretrained(tmp)
        char_tokenizer().save_pretrained(tmp)
        meta = {
            "config": asdict(cfg),
            "command": command,
            "eval": report,
            "train_seconds": log["train_seconds"],
            "curve": log["eval"],
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        }
        (tmp / "arith-toy.json").write_text(json.dumps(meta, indent=1))
        fmt = task_format(cfg.digits)
        (tmp / TASK_FILE).write_text(json.dumps({"pad": fmt.pad, "digits": list(fmt.digits)}))
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
