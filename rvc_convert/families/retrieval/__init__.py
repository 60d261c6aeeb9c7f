"""The retrieval index (FAISS `.index`) a voice ships with: RVC blends each frame's nearest training
features from it into the frame. Read without faiss (faiss_format.py), converted to the layout
rvc_runtime.index searches, checked by searching it (checks.py). Facts: docs/retrieval_index.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...reader import ContainerReader, LoadedFile
from ...safe_pickle import TensorRef
from ..base import Family, ModelInfo, Recognised, register_family
from ..json_config import config_json
from . import checks
from .faiss_format import FLAT_CODES, IVF_FLAT, OTHER_TYPES, IndexLayout, describe_layout, read_index_layout, streamed_tensors

FAMILY = "retrieval"
CONTAINER = "faiss-index"
RULE_PACK = "retrieval"
INDEX_FORMAT = "1"  # revision of the converted layout (metadata `index_format`; rvc_runtime.index reads it)
FAISS_CODES = frozenset({IVF_FLAT, *FLAT_CODES, *OTHER_TYPES})
NEIGHBOURS = 8  # RVC searches k = 8
# RVC's feature widths: v1 voices take HuBERT layer 9 through final_proj, v2 voices the last layer.
RVC_WIDTHS = {256: "v1", 768: "v2"}


def _claims(path: Path, head: bytes) -> bool:
    """Every FAISS type code (the reader names the types it does not convert), and any other
    `.index` file that starts with no other container's magic: a truncated or mislabelled index
    then hears what a FAISS index should be, not what a PyTorch checkpoint should be."""
    if head[:4] in FAISS_CODES:
        return True
    other_container = head.startswith((b"PK", b"\x80")) or head[8:9] == b"{"
    return path.suffix.lower() == ".index" and not other_container


def _read_container(path: Path, size: int) -> LoadedFile:
    """Parse and check the structure; the arrays are read only when a conversion asks for them."""
    layout = read_index_layout(path)
    root = {name: TensorRef(array, dtype) for name, (array, dtype) in streamed_tensors(path, layout).items()}
    return LoadedFile(path, CONTAINER, root, path, size, extra_files={"faiss": layout})


def index_config(layout: IndexLayout) -> dict[str, Any]:
    return {
        "index_type": layout.index_type,
        "metric": layout.metric,
        "d": layout.d,
        "nlist": layout.nlist,
        "ntotal": layout.ntotal,
        "nprobe": layout.nprobe,
        "source_nprobe": layout.nprobe_file,
        "list_encoding": layout.encoding or "none",
    }


def feature_version(d: int) -> str | None:
    """The RVC voice version whose features are `d` wide (None: neither)."""
    return RVC_WIDTHS.get(d)


@register_family
class IndexFamily(Family):
    name = FAMILY
    title = "FAISS retrieval indexes (RVC .index: IVF-Flat, Flat)"
    rule_packs = {RULE_PACK: None}
    readers = (ContainerReader(CONTAINER, _claims, _read_container),)
    kind_labels = {"faiss-ivf-flat": "FAISS IVF-Flat index", "faiss-flat": "FAISS flat index"}
    pipeline_slot = "index"

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        if loaded.container != CONTAINER:
            return None
        layout = loaded.extra_files["faiss"]
        kind = "faiss-ivf-flat" if layout.index_type == "IndexIVFFlat" else "faiss-flat"
        return Recognised(kind, dict(loaded.root), {"layout": layout})

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        layout: IndexLayout = found.fields["layout"]
        summary = describe_layout(layout)
        lists = summary["lists"]
        version = feature_version(layout.d)
        width = f" (RVC {version} features)" if version else ""
        evidence = [
            f"FAISS {layout.index_type}, {layout.metric} metric, d = {layout.d}{width}",
            f"{layout.ntotal} vectors in {layout.nlist} inverted list(s), nprobe {layout.nprobe}"
            + (f" ({layout.encoding} list-size table)" if layout.encoding else ""),
        ]
        bins = ", ".join(f"{b['from']}-{b['to']}: {b['lists']}" if b["from"] != b["to"] else f"{b['from']}: {b['lists']}" for b in lists["histogram"])
        if layout.ntotal:
            notes = [
                f"list sizes {lists['min']}..{lists['max']} (mean {lists['mean_nonempty']:.1f} over non-empty lists); "
                f"{lists['empty']} empty, {lists['shorter_than_8']} shorter than k = {NEIGHBOURS}; lists by size: {bins}"
            ]
        else:  # RVC's training writes a trained_*.index (centroids only) before the added_*.index voices ship with
            notes = ["no vectors: every list is empty (a trained_*.index); a search finds nothing, so the voice's index is the added_*.index beside it"]
        if layout.nprobe_file != layout.nprobe:
            notes.append(f"the file's nprobe {layout.nprobe_file} exceeds nlist {layout.nlist}: a search probes every list, as faiss does")
        if version is None:
            notes.append(f"d = {layout.d} is neither RVC v1 (256) nor v2 (768): no RVC voice can use it")
        return ModelInfo(FAMILY, found.kind, RULE_PACK, found.tensors, index_config(layout), evidence, notes=notes, source_fields={"faiss": summary})

    def config_from_metadata(self, metadata: dict[str, str], stored: Any, path: Path) -> Any:
        return dict(stored) if isinstance(stored, dict) else stored

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        c = info.config
        return {
            "quantizer.centroids": (c["nlist"], c["d"]),
            "invlists.vectors": (c["ntotal"], c["d"]),
            "invlists.list_offsets": (c["nlist"] + 1,),
            "invlists.ids": (c["ntotal"],),
        }

    def variant(self, config: Any) -> str:
        kind = f"ivf{config['nlist']}" if config["index_type"] == "IndexIVFFlat" else "flat"
        return f"{kind}-{config['d']}d"

    def facts(self, config: Any) -> dict[str, str]:
        return {
            "index_format": INDEX_FORMAT,
            "source_index_type": config["index_type"],
            "source_list_encoding": config["list_encoding"],
            "metric": config["metric"],
            "nprobe": str(config["nprobe"]),
            "source_nprobe": str(config["source_nprobe"]),
            "d": str(config["d"]),
            "nlist": str(config["nlist"]),
            "ntotal": str(config["ntotal"]),
            "config": config_json(config),
        }

    def model_line(self, facts: dict[str, str], kind: str) -> list[str]:
        return super().model_line(facts, kind) + [f"d {facts['d']}", f"{facts['ntotal']} vectors in {facts['nlist']} lists", f"nprobe {facts['nprobe']}", facts["metric"]]

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        checks.runtime_checks(converted, info, dtype, reference, report)

    def load_runtime(self, converted: Path) -> Any:
        from rvc_runtime.index import RetrievalIndex

        return RetrievalIndex.from_file(converted)

    def asset_contract(self, info: ModelInfo) -> dict[str, Any]:
        c = info.config
        return {"dimension": c["d"], "metric": c["metric"], "nprobe": c["nprobe"], "nlist": c["nlist"], "ntotal": c["ntotal"], "neighbours": NEIGHBOURS}
