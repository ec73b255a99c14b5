"""The local model (base, or base + adapter) rewrites the finding's lines; best of k.

At most `fix.max_model_findings` findings a run are asked about, most severe first. Each becomes a
"rewrite these exact lines" prompt (`secai.fix.prompt`): the finding's
lines, widened to whole Python statements, at most `fix.max_target_lines`. `fix.candidates`
answers are sampled per finding in one batch (temperature `fix.temperature`; the ```before block
decoded from the named lines only, `fix.constrain_before`), each parsed
strictly (a standard-library import the new lines need is added: `secai.fix.imports`) and every
usable one verified by the reporting scanner; the first that verifies (in
sample order) is kept. `verified_at` tells which: verified@1 counts those kept at 1.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from secai.fix.edit import widen_to_statements
from secai.fix.imports import with_imports
from secai.fix.memory import Recalled
from secai.fix.prompt import (
    AnswerError,
    FixFacts,
    answer_complete,
    before_openings,
    edit_from_answer,
    parse_fix_answer,
    render_fix_prompt,
)
from secai.fix.task import FixContext, FixTask, Outcome
from secai.fix.verify import Candidate
from secai.model.constrain import PrefixConstraint

log = logging.getLogger("secai")

NAME = "model"
_CONTEXT_STEPS = (1.0, 0.5, 0.25, 0.0)


def _target(t: FixTask, ctx: FixContext) -> tuple[int, int] | str:
    loc = t.finding.location
    lines = t.source.text.split("\n") if t.source else []
    if not loc or not loc.start_line:
        return "the finding names no line"
    start, end = loc.start_line, max(loc.start_line, loc.end_line or loc.start_line)
    if end > len(lines):
        return f"line {end} is past the end of {t.path} ({len(lines)} lines)"
    limit = ctx.settings.fix.max_target_lines
    start, end = widen_to_statements(t.path or "", t.source.text, start, end, limit)
    if end - start + 1 > limit:
        return f"the finding spans {end - start + 1} lines, over fix.max_target_lines ({limit})"
    return start, end


def _recall(t: FixTask, facts: FixFacts, target: list[str], ctx: FixContext) -> Recalled | None:
    if not ctx.memory:
        return None
    return ctx.memory.recall(
        tool=facts.tool,
        rule_id=facts.rule_id,
        cwe=facts.cwe,
        path=facts.path,
        code="\n".join(target),
        as_of=t.as_of,
    )


@dataclass
class Drafts:
    """The model's parsed candidates for a batch of findings, before the scanners judge them.

    `out` holds the findings already decided (no scanner, no target, over a limit); `ready` the
    asked ones; `owners[i]` is (index in `ready`, sample index) of `candidates[i]`."""

    out: dict[int, Outcome]
    ready: list[tuple[FixTask, int, int, list[str]]] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    owners: list[tuple[int, int]] = field(default_factory=list)
    parse_failures: dict[int, list[str]] = field(default_factory=dict)
    k: int = 1


def propose(tasks: list[FixTask], ctx: FixContext) -> dict[int, Outcome]:
    drafts = draft(tasks, ctx)
    return judge(drafts, ctx.verifier.verify(drafts.candidates))


def draft(tasks: list[FixTask], ctx: FixContext) -> Drafts:
    """Ask the model for `fix.candidates` answers per finding and parse them (no scanner runs yet:
    the evaluation verifies several models' drafts in one batch)."""
    settings = ctx.settings.fix
    out: dict[int, Outcome] = {}
    work: list[tuple[FixTask, int, int, list[str]]] = []
    for t in tasks:
        if t.source is None:
            continue
        scanner, why = ctx.verifier.scanner_for(t.finding)
        if scanner is None:  # nothing could verify an answer: no point generating one
            out[t.id] = Outcome(NAME, "unverifiable", why)
            continue
        target = _target(t, ctx)
        if isinstance(target, str):
            out[t.id] = Outcome(NAME, "no_proposal", target)
            continue
        work.append((t, *target, t.source.text.split("\n")))
    limit = settings.max_model_findings
    if limit and len(work) > limit:
        # Most severe first; ties in report order, so that re-runs ask about the same ones.
        work.sort(key=lambda w: (-w[0].finding.severity.rank, w[0].id))
        for t, *_ in work[limit:]:
            out[t.id] = Outcome(
                NAME, "no_proposal", f"not tried: fix.max_model_findings ({limit}) a run, most severe first"
            )
        work = sorted(work[:limit], key=lambda w: w[0].id)
    if not work:
        return Drafts(out)

    from secai.model.base import load, resolve_model, runtime_model
    from secai.model.generate import chat_prompt, sample

    resolved = runtime_model(resolve_model(ctx.model or ctx.settings.model.name, ctx.settings), ctx.settings)
    model, tokenizer = load(resolved, ctx.adapter)
    prompts, ready, constraints = [], [], []
    recalled = 0
    for t, start, end, lines in work:
        ids = None
        facts = FixFacts.of(t.finding)
        facts.path = t.path or facts.path
        past = _recall(t, facts, lines[start - 1 : end], ctx)
        recalled += past is not None
        for step in _CONTEXT_STEPS:
            ids = chat_prompt(
                tokenizer, render_fix_prompt(facts, lines, start, end, int(settings.context_lines * step), past)
            )
            if len(ids) <= settings.max_prompt_tokens:
                break
        if ids is None or len(ids) > settings.max_prompt_tokens:
            out[t.id] = Outcome(
                NAME, "no_proposal", f"the prompt is over fix.max_prompt_tokens ({settings.max_prompt_tokens})"
            )
            continue
        prompts.append(ids)
        ready.append((t, start, end, lines))
        constraints.append(PrefixConstraint(before_openings(lines, start, end)) if settings.constrain_before else None)
    log.info(
        "fix: %d findings x %d candidates from %s (%d with an earlier fix of the team's as the example)",
        len(ready),
        settings.candidates,
        resolved.model_id,
        recalled,
    )
    answers = sample(
        model,
        tokenizer,
        prompts,
        n=settings.candidates,
        temperature=settings.temperature,
        top_p=settings.top_p,
        seed=settings.seed,
        max_tokens=settings.max_tokens,
        batch_size=settings.batch_size,
        stop=answer_complete,
        constraints=constraints,
    )
    candidates: list[Candidate] = []
    owners: list[tuple[int, int]] = []  # (index in ready, sample index)
    parse_failures: dict[int, list[str]] = {}
    for r, ((t, start, end, lines), texts) in enumerate(zip(ready, answers)):
        for k, text in enumerate(texts):
            try:
                answer = parse_fix_answer(text)
                edit = edit_from_answer(answer, lines, start, end)
            except AnswerError as e:
                parse_failures.setdefault(r, []).append(str(e))
                continue
            edits = with_imports(t.path or "", t.source.text, edit)
            candidates.append(Candidate(t.finding, t.path, t.source.text, edits, answer.rationale))
            owners.append((r, k))
    return Drafts(out, ready, candidates, owners, parse_failures, settings.candidates)


def judge(d: Drafts, verdicts: list) -> dict[int, Outcome]:
    """Each finding's outcome from the scanners' verdicts on its candidates (in `d.candidates`
    order): the first verified in sample order, else why none was."""
    out = dict(d.out)
    results: dict[int, list[tuple[int, Candidate, object]]] = {}
    for (r, k), c, v in zip(d.owners, d.candidates, verdicts):
        results.setdefault(r, []).append((k, c, v))
    for r, (t, *_rest) in enumerate(d.ready):
        tried = sorted(results.get(r, []), key=lambda x: x[0])
        n = d.k
        verified = [(k, c) for k, c, v in tried if v.status == "verified"]
        if verified:
            k, c = verified[0]
            v = next(v for kk, _, v in tried if kk == k)
            out[t.id] = Outcome(
                NAME,
                "verified",
                v.reason,
                changes={c.path: c.edits},
                rationale=c.rationale,
                candidates=n,
                verified_at=k + 1,
            )
        elif tried:
            reasons = Counter(v.reason for _, _, v in tried)
            status = "rejected" if any(v.status == "rejected" for _, _, v in tried) else "unverifiable"
            first = next((v.reason for _, _, v in tried if v.status == status), tried[0][2].reason)
            more = f" ({len(reasons) - 1} other reasons)" if len(reasons) > 1 else ""
            out[t.id] = Outcome(NAME, status, f"{n} candidates, none verified; first: {first}{more}", candidates=n)
        else:
            common = Counter(d.parse_failures.get(r, ["no answer"])).most_common(1)[0][0]
            out[t.id] = Outcome(
                NAME, "no_proposal", f"{n} answers, none with a usable edit (most often: {common})", candidates=n
            )
    return out
