"""Batched, cached analysis of findings with the base (or a given) model.

Each distinct prompt is analysed once per model revision and prompt version: results are cached
in the SQLite store by the rendered prompt's hash, and a run that may train reuses only what such
runs wrote (an untrusted run cannot plant an answer for a trusted one). Findings not in the cache
are rendered with the model's own chat template (`secai.model.chat`) and generated greedily by
`generate_batched`. For a plain llama on a Linux CPU, prompts are processed in sorted order, each
reusing the keys and values of what it shares with the previous one, and decode as one batch
(docs/analyze-speed.md has the measurements behind each choice); every other architecture, and
every model on Metal, goes through mlx-lm's own `BatchGenerator`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from secai.analysis.prompts import PROMPT_VERSION, SYSTEM_PROMPT, Verdict, answer_complete, parse_answer, render_facts
from secai.config import Settings
from secai.findings import Finding, assign_fingerprints
from secai.ingest.redact import redact_text
from secai.model.base import ResolvedModel, load, resolve_model, runtime_model
from secai.model.chat import chat_ids
from secai.run.store import Store

if TYPE_CHECKING:
    from secai.model.cpu.forward import ModelForward

log = logging.getLogger("secai")

# Attempts at shrinking a too-long finding's facts (by the tokens/characters ratio) before cutting tokens.
_SHRINK_STEPS = 6


class Analysis(BaseModel):
    fingerprint: str
    verdict: Verdict
    risk: str
    remediation: str
    model_id: str
    cached: bool = False
    truncated: bool = False
    #: False when the model ignored the answer format (verdict fell back to `needs review`).
    well_formed: bool = True


class PreparedPrompt(BaseModel):
    fingerprint: str
    tokens: list[int]
    truncated: bool


def cache_version(settings: Settings) -> str:
    """Prompt version plus the generation settings that change the output."""
    a = settings.analyze
    return f"{PROMPT_VERSION}/max_tokens={a.max_tokens}/max_prompt_tokens={a.max_prompt_tokens}"


def prompt_key(finding: Finding) -> str:
    """The cache key of a finding's analysis: the hash of its rendered prompt (every fact the model
    sees, message text included), so no other text can be given this finding's cached answer."""
    text = f"{SYSTEM_PROMPT}\0{render_facts(finding).text}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _context_length(model_path) -> int | None:
    import json

    try:
        cfg = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    n = cfg.get("max_position_embeddings")
    return int(n) if isinstance(n, int) and n > 0 else None


def prompt_budget(settings: Settings, context_length: int | None) -> int:
    budget = settings.analyze.max_prompt_tokens
    if context_length:
        budget = min(budget, context_length - settings.analyze.max_tokens)
    if budget < 32:
        from secai.errors import ModelError

        raise ModelError(
            f"context window of {context_length} tokens leaves no room for a prompt with max_tokens={settings.analyze.max_tokens}"
        )
    return budget


def encode_prompt(tokenizer, finding: Finding, max_tokens: int) -> PreparedPrompt:
    """Chat-template token ids for `finding`, with its facts cut to fit `max_tokens`."""

    def ids_for(max_chars: int | None):
        facts = render_facts(finding, max_chars)
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": facts.text}]
        return chat_ids(tokenizer, messages), facts.truncated

    ids, truncated = ids_for(None)
    if len(ids) > max_tokens:
        full_chars = len(render_facts(finding).text)
        max_chars = full_chars
        for _ in range(_SHRINK_STEPS):
            max_chars = max(64, int(max_chars * max_tokens / len(ids) * 0.95))
            ids, truncated = ids_for(max_chars)
            if len(ids) <= max_tokens:
                break
        if len(ids) > max_tokens:  # the system prompt and identifying facts alone overflow
            tail = min(16, max_tokens // 4)  # keep the block's end and the generation prompt
            ids = ids[: max_tokens - tail] + ids[-tail:]
        truncated = True
    return PreparedPrompt(fingerprint=finding.fingerprint, tokens=ids, truncated=truncated)


class _Progress:
    """A rich progress bar with findings/s on stderr (or nothing)."""

    def __init__(self, total: int, enabled: bool):
        self.enabled = enabled and total > 0
        self.start = time.perf_counter()
        self.done = 0
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(
                TextColumn("analyzing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} findings/s"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._p.add_task("analyze", total=total, rate="-")
            self._p.start()

    def advance(self, n: int) -> None:
        self.done += n
        if self.enabled:
            rate = self.done / max(1e-9, time.perf_counter() - self.start)
            self._p.update(self._task, advance=n, rate=f"{rate:.2f}")

    def close(self) -> None:
        if self.enabled:
            self._p.stop()


class GenerationStats(BaseModel):
    """Where generation time went: prompt processing (prefill) vs token-by-token decoding."""

    sequences: int = 0
    #: Prompt tokens whose keys and values were copied from the previous prompt's cache (the
    #: system prompt, the intro and whatever else the two prompts start with) instead of computed.
    reused_tokens: int = 0
    #: Prompt tokens computed (everything a prompt does not share with the one before it).
    prefill_tokens: int = 0
    prefill_seconds: float = 0.0
    generated_tokens: int = 0
    decode_seconds: float = 0.0

    @property
    def prefill_tps(self) -> float:
        return self.prefill_tokens / self.prefill_seconds if self.prefill_seconds else 0.0

    @property
    def decode_tps(self) -> float:
        return self.generated_tokens / self.decode_seconds if self.decode_seconds else 0.0


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n, limit = 0, min(len(a), len(b))
    while n < limit and a[n] == b[n]:
        n += 1
    return n


class _Prefiller:
    """Builds each sequence's KV cache, one sequence at a time, starting from a copy of the
    previous sequence's cache cut to the tokens the two prompts start with. Fed prompts in sorted
    order, every prompt reuses the system prompt and intro, and findings of the same tool and rule
    reuse their common facts too (a prefix tree walked in order). Only the caches are evaluated,
    so no logits of prompt positions are computed.

    One sequence at a time, because batched prefill pads every prompt to the longest and, on a
    CPU, materializes a padded attention mask and scores per sequence: measured here it ran at less
    than half the tokens/s of single-sequence prefill (bench/analyze.py --batch-generate).
    """

    def __init__(self, model, step: int = 512, forward: ModelForward | None = None):
        from secai.model.cpu.forward import ModelForward

        self.model = model
        self.forward = forward or ModelForward(model)
        self.forward.prefill_step = step
        self._last: tuple[list[int], list] | None = None

    def cache_for(self, tokens: Sequence[int]) -> tuple[list, int]:
        """A fresh cache holding `tokens`, and how many of them were reused rather than computed."""
        from mlx_lm.models.cache import KVCache, make_prompt_cache

        tokens = list(tokens)
        cache = make_prompt_cache(self.model)
        reused = 0
        if self._last is not None and all(type(c) is KVCache for c in cache):
            last_tokens, last_cache = self._last
            reused = common_prefix_length(last_tokens, tokens)
            if reused:
                for mine, old in zip(cache, last_cache):
                    # A slice is a new array: extending this cache never touches the old one.
                    mine.keys, mine.values = old.keys[..., :reused, :], old.values[..., :reused, :]
                    mine.offset = reused
        if len(tokens) > reused:
            self.forward.prefill(tokens[reused:], cache)
        self._last = (tokens, cache)
        return cache, reused


class _Decoding:
    """Sequences decoding together greedily in one left-padded batch cache."""

    def __init__(self, forward: ModelForward):
        self.forward = forward
        self.cache: list | None = None
        self.prompts: list[PreparedPrompt] = []
        self.tokens: list[list[int]] = []
        self.next: list[int] = []

    def __len__(self) -> int:
        return len(self.prompts)

    def add(self, prompts: list[PreparedPrompt], caches: list[list]) -> None:
        """Join sequences whose `caches` hold all of their prompt but the last token."""
        merged = [type(layer[0]).merge(list(layer)) for layer in zip(*caches)]
        if self.cache is None:
            self.cache = merged
        else:
            for mine, new in zip(self.cache, merged):
                mine.extend(new)
        self.prompts += prompts
        self.tokens += [[] for _ in prompts]
        self.next += [p.tokens[-1] for p in prompts]

    def step(self) -> list[int]:
        """One token for every sequence."""
        import mlx.core as mx

        out = self.forward.greedy(mx.array(self.next), self.cache).tolist()
        self.next = out
        return out

    def keep(self, indices: list[int]) -> None:
        if not indices:
            self.cache, self.prompts, self.tokens, self.next = None, [], [], []
            return
        for c in self.cache:
            c.filter(indices)
        self.prompts = [self.prompts[i] for i in indices]
        self.tokens = [self.tokens[i] for i in indices]
        self.next = [self.next[i] for i in indices]


def generate_batched(
    model,
    tokenizer,
    prompts: list[PreparedPrompt],
    *,
    batch_size: int,
    max_tokens: int,
    on_batch=None,
    stats: GenerationStats | None = None,
) -> dict[str, str]:
    """fingerprint -> generated text (greedy), `batch_size` sequences decoded together.

    Where the CPU fast path applies (`cpu_fast_path`), prompts are processed in sorted order, each alone (no padding to another's length) and only
    from where it stops sharing tokens with the previous one. Sequences decode as one batch and stop
    at EOS, at `max_tokens`, or once the answer format is complete; freed slots are refilled from
    the remaining prompts while the others keep decoding.
    `on_batch(prompts, texts)` is called as sequences finish. Elsewhere mlx-lm's `BatchGenerator`
    does the same job with the model's own forward pass.
    """
    import time as _time
    from collections import deque

    stats = stats if stats is not None else GenerationStats()
    if not prompts:
        return {}
    from secai.model.cpu.forward import cpu_fast_path, forward_for

    if not cpu_fast_path(model):
        return _generate_stock(
            model, tokenizer, prompts, batch_size=batch_size, max_tokens=max_tokens, on_batch=on_batch, stats=stats
        )
    forward = forward_for(model)
    prefill = _Prefiller(model, forward=forward)

    eos = set(tokenizer.eos_token_ids)
    pending = deque(sorted(prompts, key=lambda p: p.tokens))  # neighbours share the longest prefixes
    batch = _Decoding(forward)
    out: dict[str, str] = {}
    refill_at = max(1, batch_size // 4)  # refill in groups: each group costs one extra small decode step

    while pending or len(batch):
        free = batch_size - len(batch)
        if pending and (not len(batch) or free >= min(refill_at, len(pending))):
            group = [pending.popleft() for _ in range(min(free, len(pending)))]
            t0 = _time.perf_counter()
            caches = []
            for p in group:
                cache, reused = prefill.cache_for(p.tokens[:-1])
                caches.append(cache)
                stats.reused_tokens += reused
                stats.prefill_tokens += len(p.tokens) - 1 - reused
            stats.prefill_seconds += _time.perf_counter() - t0
            stats.sequences += len(group)
            batch.add(group, caches)
        t0 = _time.perf_counter()
        new = batch.step()
        stats.decode_seconds += _time.perf_counter() - t0
        keep, finished = [], []
        for i, (token, tokens) in enumerate(zip(new, batch.tokens)):
            if token in eos:
                finished.append(i)
                continue
            tokens.append(token)
            if len(tokens) >= max_tokens or answer_complete(tokenizer.decode(tokens)):
                finished.append(i)
            else:
                keep.append(i)
        if finished:
            texts = {}
            for i in finished:
                stats.generated_tokens += len(batch.tokens[i])
                texts[batch.prompts[i].fingerprint] = tokenizer.decode(batch.tokens[i])
            done = [batch.prompts[i] for i in finished]
            batch.keep(keep)
            out.update(texts)
            if on_batch is not None:
                on_batch(done, texts)
    return out


def _generate_stock(
    model, tokenizer, prompts: list[PreparedPrompt], *, batch_size: int, max_tokens: int, on_batch, stats
) -> dict[str, str]:
    """`generate_batched` through the shared mlx-lm generator (`secai.model.generate.greedy`): any
    architecture, any device. Sequences stop at EOS, at `max_tokens`, or once the answer format is
    complete."""
    from secai.model.generate import greedy

    out: dict[str, str] = {}

    def finished(done: dict[int, list[int]]) -> None:
        texts = {prompts[i].fingerprint: tokenizer.decode(t) for i, t in done.items()}
        out.update(texts)
        if on_batch is not None:
            on_batch([prompts[i] for i in done], texts)

    figures: dict[str, float] = {}
    greedy(
        model,
        tokenizer,
        [p.tokens for p in prompts],
        max_tokens=max_tokens,
        batch_size=batch_size,
        stop=lambda t: answer_complete(tokenizer.decode(t)),
        on_done=finished,
        stats=figures,
    )
    stats.sequences += len(prompts)
    stats.prefill_tokens += int(figures["prompt_tokens"])
    stats.prefill_seconds += figures["prompt_seconds"]
    stats.generated_tokens += int(figures["generated_tokens"])
    stats.decode_seconds += figures["decode_seconds"]
    return out


def _unique_findings(findings: Iterable[Finding]) -> list[Finding]:
    findings = list(findings)
    if any(not f.fingerprint for f in findings):
        findings = assign_fingerprints([f.model_copy(deep=True) for f in findings])
    seen: dict[str, Finding] = {}
    for f in findings:
        seen.setdefault(f.fingerprint, f)
    return list(seen.values())


def analyze_findings(
    findings: Sequence[Finding],
    settings: Settings,
    *,
    model: ResolvedModel | str | None = None,
    no_cache: bool = False,
    trusted: bool = False,
    progress: bool = True,
    loaded: tuple[Any, Any] | None = None,
    stats: GenerationStats | None = None,
) -> list[Analysis]:
    """One `Analysis` per distinct finding (by fingerprint), in input order.

    `model` is a resolved model or a model name (default `settings.model.name`); `trusted`: the
    run may train (`secai.run.meta.may_train`), so it reuses only cached analyses that trusted runs
    wrote, and what it writes is marked trusted; `loaded` is an already loaded `(model,
    tokenizer)` of that model, to skip loading it again; `stats`, when given, receives the
    prefill/decode figures of the generation.
    """
    unique = _unique_findings(findings)
    if not unique:
        return []
    resolved = model if isinstance(model, ResolvedModel) else resolve_model(model or settings.model.name, settings)
    runtime = resolved if loaded is not None else runtime_model(resolved, settings, "infer")
    key = runtime.cache_key
    version = cache_version(settings)
    use_cache = settings.analyze.cache and not no_cache

    results: dict[str, Analysis] = {}
    keys = {f.fingerprint: prompt_key(f) for f in unique}
    with Store(settings.store_path) as store:
        if use_cache:
            cached = store.get_analyses(keys.values(), key, version, trusted=trusted)
            for f in unique:
                if (data := cached.get(keys[f.fingerprint])) is not None:
                    results[f.fingerprint] = Analysis.model_validate(
                        {**data, "fingerprint": f.fingerprint, "cached": True}
                    )
        todo = [f for f in unique if f.fingerprint not in results]
        if todo:
            lm, tokenizer = loaded if loaded is not None else load(runtime)
            budget = prompt_budget(settings, _context_length(runtime.path))
            prompts = []
            for f in todo:
                p = encode_prompt(tokenizer, f, budget)
                if p.truncated:
                    log.warning(
                        "%s: finding too long for the model's context; facts truncated to %d prompt tokens",
                        f.short(),
                        budget,
                    )
                prompts.append(p)
            truncated = {p.fingerprint: p.truncated for p in prompts}
            bar = _Progress(len(todo), progress)

            def store_batch(batch: list[PreparedPrompt], texts: dict[str, str]) -> None:
                fresh: dict[str, Analysis] = {}
                for fp, text in texts.items():
                    parsed = parse_answer(text)
                    fresh[fp] = Analysis(
                        fingerprint=fp,
                        verdict=parsed.verdict,
                        risk=redact_text(parsed.risk),  # model output: redacted before it is stored
                        remediation=redact_text(parsed.remediation),
                        model_id=runtime.model_id,
                        truncated=truncated[fp],
                        well_formed=parsed.well_formed,
                    )
                results.update(fresh)
                entries = {keys[fp]: a.model_dump(exclude={"cached"}) for fp, a in fresh.items()}
                store.put_analyses(entries, key, version, trusted=trusted)
                bar.advance(len(batch))

            try:
                generate_batched(
                    lm,
                    tokenizer,
                    prompts,
                    batch_size=settings.analyze.batch_size,
                    max_tokens=settings.analyze.max_tokens,
                    on_batch=store_batch,
                    stats=stats,
                )
            finally:
                bar.close()
    return [results[f.fingerprint] for f in unique]
