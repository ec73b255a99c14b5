"""Batched, cached analysis of findings with the base (or a given) model.

Each distinct finding is analysed once per model revision and prompt version: results are cached
in the SQLite store by fingerprint. Findings not in the cache are rendered as ChatML prompts,
sorted by length and generated in batches with `mlx_lm.batch_generate`.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Sequence

from pydantic import BaseModel

from secai.config import Settings
from secai.findings import Finding, assign_fingerprints
from secai.model import ResolvedModel, load, resolve_model, runtime_model
from secai.prompts import PROMPT_VERSION, SYSTEM_PROMPT, Verdict, parse_answer, render_facts
from secai.store import Store

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
    return f"{PROMPT_VERSION}/max_tokens={settings.analyze.max_tokens}"


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
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return list(ids), facts.truncated

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


def _batches(prompts: list[PreparedPrompt], size: int) -> list[list[PreparedPrompt]]:
    ordered = sorted(prompts, key=lambda p: len(p.tokens))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


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


def generate_batched(model, tokenizer, prompts: list[PreparedPrompt], *, batch_size: int, max_tokens: int,
                     on_batch=None) -> dict[str, str]:
    """fingerprint -> generated text, over length-sorted batches."""
    from mlx_lm import batch_generate

    out: dict[str, str] = {}
    for batch in _batches(prompts, batch_size):
        resp = batch_generate(
            model,
            tokenizer,
            prompts=[p.tokens for p in batch],
            max_tokens=max_tokens,
            completion_batch_size=batch_size,
            prefill_batch_size=batch_size,
        )
        texts = dict(zip((p.fingerprint for p in batch), resp.texts))
        out.update(texts)
        if on_batch is not None:
            on_batch(batch, texts)
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
    progress: bool = True,
    loaded: tuple[Any, Any] | None = None,
) -> list[Analysis]:
    """One `Analysis` per distinct finding (by fingerprint), in input order.

    `model` is a resolved model or a model name (default `settings.model.name`); `loaded` is an
    already loaded `(model, tokenizer)` of that model, to skip loading it again.
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
    with Store(settings.store_path) as store:
        if use_cache:
            for fp, data in store.get_analyses([f.fingerprint for f in unique], key, version).items():
                results[fp] = Analysis.model_validate({**data, "cached": True})
        todo = [f for f in unique if f.fingerprint not in results]
        if todo:
            lm, tokenizer = loaded if loaded is not None else load(runtime)
            budget = prompt_budget(settings, _context_length(runtime.path))
            prompts = []
            for f in todo:
                p = encode_prompt(tokenizer, f, budget)
                if p.truncated:
                    log.warning("%s: finding too long for the model's context; facts truncated to %d prompt tokens",
                                f.short(), budget)
                prompts.append(p)
            truncated = {p.fingerprint: p.truncated for p in prompts}
            bar = _Progress(len(todo), progress)

            def store_batch(batch: list[PreparedPrompt], texts: dict[str, str]) -> None:
                fresh: dict[str, Analysis] = {}
                for fp, text in texts.items():
                    parsed = parse_answer(text)
                    fresh[fp] = Analysis(
                        fingerprint=fp, verdict=parsed.verdict, risk=parsed.risk, remediation=parsed.remediation,
                        model_id=runtime.model_id, truncated=truncated[fp], well_formed=parsed.well_formed,
                    )
                results.update(fresh)
                store.put_analyses({fp: a.model_dump(exclude={"cached"}) for fp, a in fresh.items()}, key, version)
                bar.advance(len(batch))

            try:
                generate_batched(lm, tokenizer, prompts, batch_size=settings.analyze.batch_size,
                                 max_tokens=settings.analyze.max_tokens, on_batch=store_batch)
            finally:
                bar.close()
    return [results[f.fingerprint] for f in unique]
