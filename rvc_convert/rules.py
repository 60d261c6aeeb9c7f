"""The rule engine: YAML rule packs turn every source tensor name into a target name and a layer kind.

A pack (mappings/<name>.yaml, schema in schemas/rule_pack.schema.json) lists aliases (source
spellings normalised first), drops (tensors deliberately left out, each with a reason) and rules
(source pattern -> target pattern + layer kind). Planning is two-sided: every source tensor must
be consumed by exactly one rule or drop, and every tensor the architecture expects must be present
with its expected shape. Nothing here looks at tensor values.

A pack may `extend` another and `replace` one source prefix: it inherits the base pack's aliases,
drops and every rule outside that prefix, and brings its own rules for it (a variant of a model
whose only difference is one sub-network, e.g. another decoder under `dec.`).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from .errors import MappingError, RulePackError
from .resources import MAPPINGS_DIR, known_valid, remember_valid, schema_validator

RULE_PACK_SCHEMA = "rule_pack.schema.json"
WEIGHT_NORM_SUFFIXES = {"_g": "g", "_v": "v"}
FLOAT_DTYPES = ("float16", "float32", "float64", "bfloat16")  # what a parameter's source storage may be
SAFE_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: same result, ~8x faster
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*)|([*/])(\d+))?\}")


# --- patterns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourcePattern:
    """`dec.ups.{i}.weight`: literal text with captures `{i}` (integer), `{p:a|b}` (word), `{m:*}` (any)."""

    text: str

    @cached_property
    def regex(self) -> re.Pattern:
        parts, pos = [], 0
        for match in _PLACEHOLDER.finditer(self.text):
            parts.append(re.escape(self.text[pos : match.start()]))
            name, choices = match.group(1), match.group(2)
            if choices is None:
                parts.append(f"(?P<{name}>0|[1-9][0-9]*)")
            elif choices == "*":
                parts.append(f"(?P<{name}>.+?)")
            else:
                parts.append(f"(?P<{name}>{'|'.join(re.escape(c) for c in choices.split('|'))})")
            pos = match.end()
        parts.append(re.escape(self.text[pos:]))
        return re.compile("".join(parts))

    def match(self, key: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(key)
        return found.groupdict() if found else None

    @property
    def skeleton(self) -> str:
        """The pattern with every capture shown as `{}`: what `nearest rule` suggestions compare against."""
        return _PLACEHOLDER.sub("{}", self.text)


@dataclass(frozen=True)
class TargetPattern:
    """`flow.flow_{k/2}.enc.{l:in_layers=in_layer}_{j}`: fills captures, with arithmetic and word maps."""

    text: str

    def render(self, captures: dict[str, str], rule_id: str, source_key: str) -> str:
        def fill(match: re.Match) -> str:
            name, mapping, op, operand = match.groups()
            if name not in captures:
                raise RulePackError(f"rule {rule_id}: target uses {{{name}}}, which its source pattern does not capture")
            value = captures[name]
            if mapping is not None:
                table = dict(item.split("=", 1) for item in mapping.split("|"))
                if value not in table:
                    raise RulePackError(f"rule {rule_id}: no mapping for '{value}' in {{{name}:{mapping}}}")
                return table[value]
            if op is None:
                return value
            number, operand_value = int(value), int(operand)
            if op == "*":
                return str(number * operand_value)
            if number % operand_value:
                raise MappingError(
                    f"{source_key}: index {number} is not a multiple of {operand_value} (rule {rule_id}); "
                    f"the checkpoint has a tensor where the architecture has a weightless layer"
                )
            return str(number // operand_value)

        return _PLACEHOLDER.sub(fill, self.text)


def fill_source(pattern: SourcePattern, captures: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: captures[m.group(1)], pattern.text)


# --- packs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alias:
    id: str
    source: SourcePattern
    target: TargetPattern
    why: str = ""


@dataclass(frozen=True)
class Drop:
    id: str
    source: SourcePattern
    why: str


@dataclass(frozen=True)
class Rule:
    id: str
    source: SourcePattern
    target: TargetPattern
    kind: str
    weight_norm: bool = False
    dtype: str | None = None


@dataclass(frozen=True)
class LayerKind:
    """A layer kind of mappings/layouts.yaml: how its weights are laid out, declared."""

    name: str
    ndim: tuple[int, ...] | None
    permute: tuple[int, ...] | None
    why: str
    weight_norm_axis: int | None = None  # the PyTorch axis weight norm keeps (torch's `dim`)
    check: str | None = None  # how the layer-wise proof runs it (conv1d, linear, ...)


@dataclass
class RulePack:
    name: str
    family: str
    architecture: str
    description: str
    aliases: list[Alias]
    drops: list[Drop]
    rules: list[Rule]
    kinds: dict[str, LayerKind]
    path: Path
    sha256: str  # of the pack (and its base pack) and the layout table together: any rule change changes it
    base: str | None = None  # the pack this one extends (`extends:`), whose rules it inherits outside `replaces`

    def kind(self, name: str) -> LayerKind:
        return self.kinds[name]


def _load_yaml(path: Path, raw: bytes | None = None) -> Any:
    """The YAML document in `path` (or in `raw`, the bytes already read from it)."""
    try:
        text = path.read_text(encoding="utf-8") if raw is None else raw.decode("utf-8")
        return yaml.load(text, Loader=SAFE_YAML_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RulePackError(f"{path}: cannot read rule file ({exc})") from None


def load_layer_kinds(mappings_dir: Path = MAPPINGS_DIR) -> tuple[dict[str, LayerKind], bytes]:
    path = mappings_dir / "layouts.yaml"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulePackError(f"{path}: cannot read rule file ({exc})") from None
    data = _load_yaml(path, raw)
    kinds = {}
    for name, spec in data["kinds"].items():
        ndim = spec.get("ndim")
        kinds[name] = LayerKind(
            name,
            None if ndim is None else tuple(ndim if isinstance(ndim, list) else [ndim]),
            tuple(spec["permute"]) if "permute" in spec else None,
            spec.get("why", ""),
            spec.get("weight_norm_axis"),
            spec.get("check"),
        )
    return kinds, raw


def load_rule_pack(name_or_path: str | Path, mappings_dir: Path = MAPPINGS_DIR) -> RulePack:
    """Load and schema-check a pack by name (a shipped mappings/<name>.yaml) or path. Trusted callers
    only: names from a file go through the family registry (families.load_family_rule_pack)."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = mappings_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in mappings_dir.glob("*.yaml") if p.stem != "layouts"))
        raise RulePackError(f"no rule pack '{name_or_path}' (available: {available})")
    raw = path.read_bytes()
    data = _load_yaml(path, raw)
    if not known_valid(RULE_PACK_SCHEMA, raw):  # parsed from the same bytes: valid then, valid now
        from jsonschema.exceptions import best_match

        error = best_match(schema_validator(RULE_PACK_SCHEMA).iter_errors(data))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "top level"
            raise RulePackError(f"{path}: invalid rule pack at {where}: {error.message}")
        remember_valid(RULE_PACK_SCHEMA, raw)
    kinds, kinds_raw = load_layer_kinds(mappings_dir)
    ids = [item["id"] for section in ("aliases", "drop", "rules") for item in data.get(section, [])]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RulePackError(f"{path}: duplicate rule ids {duplicates}")
    rules = [
        Rule(r["id"], SourcePattern(r["from"]), TargetPattern(r["to"]), r["kind"], r.get("weight_norm", False), r.get("dtype"))
        for r in data["rules"]
    ]
    for rule in rules:
        if rule.kind not in kinds:
            raise RulePackError(f"{path}: rule {rule.id} names the layer kind '{rule.kind}', which mappings/layouts.yaml does not declare")
        if rule.weight_norm and not rule.source.text.endswith(".weight"):
            raise RulePackError(f"{path}: rule {rule.id} has weight_norm but its source does not end in '.weight'")
        if rule.weight_norm and kinds[rule.kind].weight_norm_axis is None:
            raise RulePackError(f"{path}: rule {rule.id} has weight_norm but its kind '{rule.kind}' declares no weight_norm_axis")
    pack = RulePack(
        name=data["name"],
        family=data["family"],
        architecture=data["architecture"],
        description=data.get("description", ""),
        aliases=[Alias(a["id"], SourcePattern(a["from"]), TargetPattern(a["to"]), a.get("why", "")) for a in data.get("aliases", [])],
        drops=[Drop(d["id"], SourcePattern(d["from"]), d["why"]) for d in data.get("drop", [])],
        rules=rules,
        kinds=kinds,
        path=path,
        sha256=hashlib.sha256(raw + b"\0" + kinds_raw).hexdigest(),
    )
    if "extends" in data:
        pack = _extend(pack, data["extends"], data["replaces"], raw, kinds_raw, mappings_dir)
    return pack


def _extend(pack: RulePack, base_name: str, prefix: str, raw: bytes, kinds_raw: bytes, mappings_dir: Path) -> RulePack:
    """A pack that `extends` a base and `replaces` one source prefix (e.g. a decoder that owns `dec.`):
    the base's aliases, drops and rules outside the prefix, then this pack's own, which must all lie
    inside it. One level only, so a pack's meaning is always two files."""
    base = load_rule_pack(base_name, mappings_dir)
    where = pack.path
    if base.base is not None:
        raise RulePackError(f"{where}: extends {base_name}, which itself extends {base.base}; only one level of extension is allowed")
    if base.family != pack.family:
        raise RulePackError(f"{where}: family {pack.family} differs from its base {base_name}'s ({base.family})")
    outside = [r.id for r in pack.rules if not r.source.text.startswith(prefix)]
    if outside:
        raise RulePackError(f"{where}: rules {outside[:4]} lie outside the prefix '{prefix}' this pack replaces")
    kept = [r for r in base.rules if not r.source.text.startswith(prefix)]
    if len(kept) == len(base.rules):
        raise RulePackError(f"{where}: the base pack {base_name} has no rules under '{prefix}' to replace")
    aliases, drops, rules = base.aliases + pack.aliases, base.drops + pack.drops, kept + pack.rules
    ids = [item.id for item in (*aliases, *drops, *rules)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RulePackError(f"{where}: rule ids {duplicates} repeat ids of its base pack {base_name}")
    base_raw = base.path.read_bytes()
    return RulePack(
        name=pack.name,
        family=pack.family,
        architecture=pack.architecture,
        description=pack.description,
        aliases=aliases,
        drops=drops,
        rules=rules,
        kinds=pack.kinds,
        path=pack.path,
        sha256=hashlib.sha256(raw + b"\0" + base_raw + b"\0" + kinds_raw).hexdigest(),
        base=base.name,
    )


# --- planning ---------------------------------------------------------------------------------


@dataclass
class PlanEntry:
    """One target tensor: which source tensors feed it, through which rule and ops."""

    target: str
    rule_id: str
    kind: str
    sources: dict[str, str]  # role ("w", or "g" and "v" for weight norm) -> source key as stored
    source_shapes: dict[str, tuple[int, ...]]
    source_dtype: str
    target_shape: tuple[int, ...]
    permute: tuple[int, ...] | None
    fuse_weight_norm: bool
    pinned_dtype: str | None = None
    weight_norm_axis: int | None = None  # declared by the layer kind: the axis g keeps

    @property
    def ops(self) -> list[str]:
        ops = []
        if self.fuse_weight_norm:
            ops.append("fuse_weight_norm")
        if self.permute and list(self.permute) != sorted(self.permute):
            ops.append(f"transpose{tuple(self.permute)}")
        return ops


@dataclass
class ConversionPlan:
    pack: RulePack
    entries: list[PlanEntry]
    dropped: list[tuple[str, str]]  # (source key, drop id)
    aliased: list[tuple[str, str, str]]  # (stored key, normalised key, alias id)
    weight_norm_spelling: str  # classic | parametrizations | fused | mixed | none
    rule_hits: dict[str, int] = field(default_factory=dict)


def _nearest_rules(key: str, pack: RulePack, count: int = 2) -> str:
    skeleton = re.sub(r"\d+", "{}", key)
    candidates = {r.source.skeleton: r.id for r in pack.rules}
    candidates.update({d.source.skeleton: d.id for d in pack.drops})
    close = difflib.get_close_matches(skeleton, list(candidates), n=count, cutoff=0.0)
    return ", ".join(f"{candidates[c]} ('{c}')" for c in close) or "none"


SHOWN_PROBLEMS = 4


def holds_parameters(pack: RulePack, rule: Rule) -> bool:
    """Whether the tensors of `rule` are float parameters (not a data table, not `dtype: keep`)."""
    return rule.dtype != "keep" and pack.kind(rule.kind).check != "table"


def _summarise(problems: list[str], limit: int = SHOWN_PROBLEMS, total: int | None = None) -> str:
    total = len(problems) if total is None else total
    shown = "; ".join(problems[:limit])
    return shown + (f"; and {total - limit} more" if total > limit else "")


def _permuted(shape: tuple[int, ...], permute: tuple[int, ...] | None) -> tuple[int, ...]:
    return tuple(shape[i] for i in permute) if permute else tuple(shape)


def plan_conversion(
    pack: RulePack,
    tensors: dict[str, tuple[tuple[int, ...], str]],
    expected: dict[str, tuple[int, ...]] | None,
    variant: str = "this model",
) -> ConversionPlan:
    """Map every source tensor (key -> (shape, dtype)) through the pack; check both-way coverage.

    `expected` is the architecture's tensor list for the detected variant, in PyTorch layout and
    fused spelling (`….weight`, not `weight_g`/`weight_v`). None skips the expected-set check.
    """
    # Every step is linear in the number of tensors: one pass over the names, each tried against
    # the pack's patterns, with dict lookups (never a scan of what came before) for collisions.
    # 1. Normalise spellings through the aliases.
    normalised: dict[str, str] = {}
    spelled_by: dict[str, str] = {}  # normalised name -> the stored key that spells it
    aliased: list[tuple[str, str, str]] = []
    for key in tensors:
        new = key
        for alias in pack.aliases:
            captures = alias.source.match(key)
            if captures is not None:
                new = alias.target.render(captures, alias.id, key)
                aliased.append((key, new, alias.id))
                break
        other = spelled_by.get(new)
        if other is not None:
            raise MappingError(f"{key} and {other} both spell {new}: the checkpoint mixes two spellings of one tensor")
        spelled_by[new] = key
        normalised[key] = new

    # 2. Match each normalised key to exactly one rule or drop.
    groups: dict[str, dict[str, Any]] = {}
    dropped: list[tuple[str, str]] = []
    unmapped: list[str] = []
    hits: dict[str, int] = {r.id: 0 for r in pack.rules} | {d.id: 0 for d in pack.drops}
    for stored_key, key in normalised.items():
        matches: list[tuple[Any, dict[str, str], str]] = []
        for drop in pack.drops:
            captures = drop.source.match(key)
            if captures is not None:
                matches.append((drop, captures, "w"))
        for rule in pack.rules:
            captures = rule.source.match(key)
            if captures is not None:
                matches.append((rule, captures, "w"))
            elif rule.weight_norm and key[-2:] in WEIGHT_NORM_SUFFIXES:
                captures = rule.source.match(key[:-2])
                if captures is not None:
                    matches.append((rule, captures, WEIGHT_NORM_SUFFIXES[key[-2:]]))
        if not matches:
            unmapped.append(stored_key)
            continue
        if len(matches) > 1:
            ids = ", ".join(m[0].id for m in matches)
            raise RulePackError(f"{stored_key} matches several rules ({ids}) in {pack.path.name}: rules must not overlap")
        rule, captures, role = matches[0]
        hits[rule.id] += 1
        if isinstance(rule, Drop):
            dropped.append((stored_key, rule.id))
            continue
        target = rule.target.render(captures, rule.id, stored_key)
        fused_key = fill_source(rule.source, captures)
        group = groups.setdefault(target, {"rule": rule, "fused_key": fused_key, "roles": {}})
        if group["rule"] is not rule:
            raise RulePackError(f"rules {group['rule'].id} and {rule.id} in {pack.path.name} both produce {target}: rules must not overlap")
        if role in group["roles"]:
            raise MappingError(f"{stored_key} and {group['roles'][role]} both map to {target}: duplicate tensors")
        group["roles"][role] = stored_key
    if unmapped:
        # Suggestions only for the names the message shows: difflib costs ~1 ms a name.
        shown = [f"{key} (nearest rules: {_nearest_rules(normalised[key], pack)})" for key in unmapped[:SHOWN_PROBLEMS]]
        raise MappingError(
            f"{len(unmapped)} source tensor(s) match no rule in {pack.path.name}: {_summarise(shown, total=len(unmapped))}. "
            f"This is not a {pack.family} we know how to convert; if it is a new layout, add a rule to mappings/{pack.path.name}",
            finding="unmapped_tensor",
        )

    # 3. Weight-norm groups must be complete; then check against the architecture's expected set.
    spellings: set[str] = set()
    problems: list[str] = []
    not_float: list[str] = []
    entries: list[PlanEntry] = []
    present_fused: dict[str, str] = {}
    for target, group in groups.items():
        rule, roles = group["rule"], group["roles"]
        # A parameter is a float; integer, bool, complex or text storage would convert to nonsense.
        # Data tables (layer kinds whose check is `table`, e.g. the ids of a search index) and rules
        # that declare `dtype: keep` hold what they hold.
        if holds_parameters(pack, rule):
            not_float += [f"{key} is {tensors[key][1]}" for key in sorted(roles.values()) if tensors[key][1] not in FLOAT_DTYPES]
        if set(roles) == {"g", "v"}:
            spellings.add("parametrizations" if any(k.endswith(".original0") for k in roles.values()) else "classic")
        elif set(roles) == {"w"}:
            if rule.weight_norm:
                spellings.add("fused")
        else:
            present = ", ".join(sorted(roles.values()))
            missing = "weight_g" if "g" not in roles else "weight_v" if "v" not in roles else "both"
            problems.append(f"{present} without its {missing} partner (or mixed with a fused weight) for {target}")
            continue
        present_fused[group["fused_key"]] = target
        shapes = {role: tuple(tensors[k][0]) for role, k in roles.items()}
        kind = pack.kind(rule.kind)
        base_shape = shapes.get("w") or shapes["v"]
        if "g" in shapes:
            g_shape, v_shape = shapes["g"], shapes["v"]
            axis = kind.weight_norm_axis
            if len(g_shape) != len(v_shape) or any(g != (v if i == axis else 1) for i, (g, v) in enumerate(zip(g_shape, v_shape))):
                problems.append(f"{roles['g']} has shape {list(g_shape)}, which cannot scale {roles['v']} {list(v_shape)} along axis {axis} (a {rule.kind})")
                continue
        if kind.ndim is not None and len(base_shape) not in kind.ndim:
            problems.append(f"{group['fused_key']} is {len(base_shape)}-D {list(base_shape)} but rule {rule.id} says it is a {rule.kind} ({'/'.join(map(str, kind.ndim))}-D)")
            continue
        entries.append(
            PlanEntry(
                target=target,
                rule_id=rule.id,
                kind=rule.kind,
                sources=dict(sorted(roles.items())),
                source_shapes=shapes,
                source_dtype=tensors[roles.get("w") or roles["v"]][1],
                target_shape=_permuted(base_shape, kind.permute),
                permute=kind.permute,
                fuse_weight_norm="g" in roles,
                pinned_dtype=None if rule.dtype in (None, "keep") else rule.dtype,
                weight_norm_axis=kind.weight_norm_axis if "g" in roles else None,
            )
        )
    if not_float:
        raise MappingError(
            f"{variant}: {_summarise(not_float)}, where a float parameter belongs: the file is damaged or forged (re-export it)",
            finding="non_float_parameter",
        )
    if expected is not None:
        for fused_key, shape in expected.items():
            if fused_key not in present_fused:
                problems.append(f"{fused_key} {list(shape)} is missing")
        by_target = {e.target: e for e in entries}
        for fused_key, target in present_fused.items():
            if fused_key not in expected:
                problems.append(f"{fused_key} is not part of {variant}")
            elif target in by_target:
                entry = by_target[target]
                found = entry.source_shapes.get("w") or entry.source_shapes["v"]
                if tuple(found) != tuple(expected[fused_key]):
                    problems.append(f"{fused_key} is {list(found)}, expected {list(expected[fused_key])}")
    if problems:
        finding = "weight_norm_incomplete" if any(" partner " in p for p in problems) else "tensor_mismatch"
        raise MappingError(f"{variant}: {_summarise(problems)}. The file is damaged or not the model its config says it is", finding=finding)
    entries.sort(key=lambda e: e.target)
    spelling = "none" if not spellings else spellings.pop() if len(spellings) == 1 else "mixed"
    return ConversionPlan(pack, entries, sorted(dropped), aliased, spelling, hits)

