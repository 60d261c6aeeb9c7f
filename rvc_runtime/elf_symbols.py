"""Give a shared library's prefixed exports their standard names, in a private in-memory copy.

The ``scipy-openblas32`` wheel carries a complete OpenBLAS with no dependency outside libc, but
exports it as ``scipy_cblas_sgemm`` and so on, so that it can sit beside any other BLAS. MLX's
Linux wheel calls ``cblas_sgemm``. Rather than compile a shim (a fresh machine has no compiler),
:func:`unprefixed_copy` copies the library into an anonymous memory file and edits its dynamic
symbol table: each selected symbol's name offset is moved past the prefix (the shorter name is a
suffix of the same string, so no string is written), and the GNU hash table the loader searches is
rebuilt for the new names. Code, data and relocations are untouched; only the names the loader
matches change, and only for the selected symbols (nothing inside the library refers to them).

Only what the wheels use is supported: 64-bit little-endian ELF (x86_64, aarch64) with section
headers and a GNU hash table and no SysV one. Anything else raises :class:`ElfError`, which the
caller reports and falls back from.
"""

from __future__ import annotations

import array
import mmap
import os
import struct
import sys

SHT_STRTAB = 3
SHT_HASH = 5
SHT_DYNSYM = 11
SHT_GNU_HASH = 0x6FFFFFF6
SHN_UNDEF = 0
SYM_SIZE = 24  # Elf64_Sym: st_name u32, st_info u8, st_other u8, st_shndx u16, st_value u64, st_size u64
BLOOM_BITS = 64  # ELF64 bloom words


class ElfError(ValueError):
    """The file is not a shared library this module can edit."""


def gnu_hash(name: bytes) -> int:
    """The GNU symbol hash (Bernstein's h * 33 + c, 32-bit), as the loader computes it."""
    h = 5381
    for byte in name:
        h = (h * 33 + byte) & 0xFFFFFFFF
    return h


def _sections(image) -> list[tuple[int, int, int, int, int]]:
    """(type, offset, size, link, entsize) of every section header."""
    if image[:4] != b"\x7fELF":
        raise ElfError("not an ELF file")
    if image[4] != 2 or image[5] != 1:
        raise ElfError("not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", image, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", image, 0x3A)
    if shoff == 0 or shnum == 0 or shentsize < 64 or shoff + shnum * shentsize > len(image):
        raise ElfError("no usable section headers")
    sections = []
    for i in range(shnum):
        _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", image, shoff + i * shentsize
        )
        sections.append((kind, offset, size, link, entsize))
    return sections


def _one(sections, kind: int, what: str):
    found = [s for s in sections if s[0] == kind]
    if len(found) != 1:
        raise ElfError(f"expected one {what} section, found {len(found)}")
    return found[0]


def _c_string(image, offset: int) -> bytes:
    end = image.find(b"\0", offset)
    if end < 0:
        raise ElfError("unterminated string in the dynamic string table")
    return bytes(image[offset:end])


def strip_symbol_prefix(image, prefix: bytes, select: bytes) -> list[bytes]:
    """Rename, in the writable ELF `image` (bytearray or mmap), every defined dynamic symbol whose
    name starts with ``prefix + select`` to the name without `prefix`; rebuild the GNU hash table.

    Returns the new names. Raises ElfError if the layout is not supported or nothing matched.
    """
    sections = _sections(image)
    if any(s[0] == SHT_HASH for s in sections):
        raise ElfError("has a SysV hash table (only GNU-hash-only libraries are supported)")
    _kind, sym_offset, sym_size, strtab_index, entsize = _one(sections, SHT_DYNSYM, ".dynsym")
    if entsize != SYM_SIZE or strtab_index >= len(sections) or sections[strtab_index][0] != SHT_STRTAB:
        raise ElfError("unexpected .dynsym layout")
    str_offset = sections[strtab_index][1]
    _kind, hash_offset, hash_size, _link, _entsize = _one(sections, SHT_GNU_HASH, ".gnu.hash")
    count = sym_size // SYM_SIZE
    nbuckets, symoffset, bloom_size, bloom_shift = struct.unpack_from("<IIII", image, hash_offset)
    if nbuckets == 0 or bloom_size == 0 or bloom_size & (bloom_size - 1) or symoffset > count:
        raise ElfError("unexpected .gnu.hash header")

    wanted = prefix + select
    symbols = struct.iter_unpack("<IBBHQQ", bytes(image[sym_offset : sym_offset + count * SYM_SIZE]))
    renamed = {}  # symbol index -> new name
    for index, (name_offset, _info, _other, shndx, _value, _size) in enumerate(symbols):
        start = str_offset + name_offset
        if shndx != SHN_UNDEF and image[start : start + len(wanted)] == wanted:
            if index < symoffset:
                raise ElfError(f"{_c_string(image, start).decode()} is outside the hashed symbols")
            struct.pack_into("<I", image, sym_offset + index * SYM_SIZE, name_offset + len(prefix))  # point at the suffix
            renamed[index] = _c_string(image, start + len(prefix))
    if not renamed:
        raise ElfError(f"no defined symbol starts with {wanted.decode()}")

    # One bucket holding every hashed symbol in table order: the loader walks a bucket's chain
    # until a hash with the low bit set, so no reordering of .dynsym (and of everything indexing
    # it) is needed. A chain entry is the symbol's hash with the low bit as end marker, so the
    # unchanged symbols keep theirs. The bloom filter keeps its bits (a stale bit only lets a lookup
    # reach the chain) and gains the new names', so it still rejects most lookups.
    bloom_offset = hash_offset + 16
    chain_offset = bloom_offset + 8 * bloom_size + 4 * nbuckets
    if chain_offset + 4 * (count - symoffset) > hash_offset + hash_size:
        raise ElfError(".gnu.hash is shorter than its header says")
    bloom = array.array("Q", bytes(image[bloom_offset : bloom_offset + 8 * bloom_size]))
    chain = array.array("I", bytes(image[chain_offset : chain_offset + 4 * (count - symoffset)]))
    if bloom.itemsize != 8 or chain.itemsize != 4 or sys.byteorder != "little":
        raise ElfError("this platform's array types do not match ELF64 little-endian")
    for index, name in renamed.items():
        h = gnu_hash(name)
        bloom[(h // BLOOM_BITS) & (bloom_size - 1)] |= (1 << (h % BLOOM_BITS)) | (1 << ((h >> bloom_shift) % BLOOM_BITS))
        chain[index - symoffset] = h
    chain = array.array("I", (value & ~1 for value in chain))
    chain[-1] |= 1
    table = struct.pack("<IIII", 1, symoffset, bloom_size, bloom_shift) + bloom.tobytes() + struct.pack("<I", symoffset) + chain.tobytes()
    if len(table) > hash_size:  # cannot happen: one bucket is never larger than the original
        raise ElfError("rebuilt .gnu.hash does not fit")
    image[hash_offset : hash_offset + len(table)] = table
    renamed = list(renamed.values())
    return renamed


def unprefixed_copy(path: str | os.PathLike, prefix: bytes, select: bytes) -> tuple[int, list[bytes]]:
    """An anonymous memory file (its fd) holding `path` with ``prefix + select*`` exports renamed
    to ``select*``; load it from ``/proc/self/fd/<fd>``. The copy is made by the kernel
    (sendfile), and only the symbol and hash tables are paged in and edited."""
    fd = os.memfd_create(os.path.basename(os.fspath(path)), os.MFD_CLOEXEC)
    try:
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            copied = 0
            while copied < size:
                sent = os.sendfile(fd, source.fileno(), copied, size - copied)
                if sent == 0:
                    raise ElfError(f"{path}: short copy ({copied} of {size} bytes)")
                copied += sent
        with mmap.mmap(fd, size) as image:
            renamed = strip_symbol_prefix(image, prefix, select)
            image.flush()
    except BaseException:
        os.close(fd)
        raise
    return fd, renamed
