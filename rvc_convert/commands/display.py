"""Text output shared by the commands: the plan summary, checks and parity tables."""

from __future__ import annotations

from typing import Any

from ..families import family_named
from .output import echo

say = echo  # commands print text through output.echo, which escapes what came from a file


def megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def model_line(plan: dict[str, Any]) -> str:
    """What kind of file, which family, and its key facts: the family says."""
    return " · ".join(family_named(plan["family"]).model_line(plan["facts"], plan["kind"]))


def print_plan_summary(plan: dict[str, Any], verbose_tensors: bool) -> None:
    digest = f", sha256 {plan['source_sha256'][:12]}…" if plan["source_sha256"] else ""
    echo(f"{plan['source']}  ({plan['container']}{digest})")
    echo(f"  model      {model_line(plan)}")
    for line in plan["evidence"]:
        echo(f"  evidence   {line}")
    for line in plan["contradictions"]:
        echo(f"  CONFLICT   {line}")
    for line in plan["notes"]:
        echo(f"  note       {line}")
    echo(f"  pickle     globals: {', '.join(plan['pickle_globals']) or 'none (no pickle)'}")
    fused = sum(1 for t in plan["tensors"] if "fuse_weight_norm" in t["ops"])
    moved = sum(1 for t in plan["tensors"] if any(op.startswith("transpose") for op in t["ops"]))
    spelling = f" ({plan['weight_norm_spelling']} spelling)" if fused else ""
    echo(
        f"  plan       rule pack '{plan['rule_pack']}' (sha256 {plan['rules_sha256'][:12]}…): {len(plan['tensors'])} target tensors, "
        f"{fused} weight-norm fused{spelling}, {moved} transposed, {len(plan['dropped'])} dropped"
    )
    if plan["dropped"]:
        by_rule: dict[str, int] = {}
        for item in plan["dropped"]:
            by_rule[item["rule"]] = by_rule.get(item["rule"], 0) + 1
        echo("  dropped    " + ", ".join(f"{count} by {rule}" for rule, count in sorted(by_rule.items())))
    echo(f"  output     {plan['output_dtype']}, {megabytes(plan['output_bytes'])}")
    if verbose_tensors:
        echo("")
        width = max(len(t["target"]) for t in plan["tensors"])
        for t in plan["tensors"]:
            sources = " + ".join(f"{src}{shape}" for (role, src), shape in zip(t["sources"].items(), t["source_shapes"].values()))
            ops = ",".join(t["ops"]) or "copy"
            echo(f"  {t['target']:<{width}}  {str(t['target_shape']):<16} <- {ops:<28} {t['rule']:<32} {sources} {t['source_dtype']}")
        for item in plan["dropped"]:
            echo(f"  {'(dropped)':<{width}}  {item['source']} by {item['rule']}")


def print_checks(report: Any) -> None:
    for check in report.checks:
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[check.status]
        echo(f"  {mark}       {check.name}: {check.detail}")
    for finding in report.findings:
        echo(f"  {finding.severity:<10} {finding.id}: {finding.message}")


def print_parity(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    width = max(len(r["stage"]) for r in rows)
    echo(f"\n  {'stage':<{width}}  {'max abs':>10}  {'rel RMS':>10}  {'SNR dB':>8}  status")
    for row in rows:
        if "snr_db" not in row:
            echo(f"  {row['stage']:<{width}}  {row.get('detail', '')}  {row['status']}")
            continue
        echo(f"  {row['stage']:<{width}}  {row['max_abs']:>10.2e}  {row['rel_rms']:>10.2e}  {row['snr_db']:>8.1f}  {row['status']}")
