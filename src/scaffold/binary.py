"""`isBinaryFile` from the isbinaryfile package (v5), which fetch:template uses.

A file it calls binary is copied byte for byte instead of being rendered, so the
heuristic has to be the same one, byte for byte.
"""

from __future__ import annotations

MAX_BYTES = 512
UTF8_BOUNDARY_RESERVE = 3


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class _Reader:
    def __init__(self, data: bytes, size: int) -> None:
        self.data = data
        self.size = size
        self.offset = 0
        self.error = False

    def next_byte(self) -> int:
        if self.offset == self.size or self.error:
            self.error = True
            return 0xFF
        byte = self.data[self.offset]
        self.offset += 1
        return byte

    def skip(self, count: int) -> None:
        for _ in range(max(0, count)):
            if self.error:
                return
            self.next_byte()


def _read_varint(reader: _Reader) -> int:
    index = 0
    value = 0
    while not reader.error:
        byte = reader.next_byte()
        value = _int32(value | _int32((byte & 0x7F) << ((7 * index) % 32)))
        if byte & 0x80 == 0:
            break
        if index >= 10:
            reader.error = True
            break
        index += 1
    return value


def _read_proto_message(reader: _Reader) -> bool:
    wire_type = _read_varint(reader) & 0x7
    if wire_type == 0:
        _read_varint(reader)
        return True
    if wire_type == 1:
        reader.skip(8)
        return True
    if wire_type == 2:
        reader.skip(_read_varint(reader))
        return True
    if wire_type == 5:
        reader.skip(4)
        return True
    return False


def _is_binary_proto(data: bytes, size: int) -> bool:
    reader = _Reader(data, size)
    messages = 0
    while True:
        if not _read_proto_message(reader) and not reader.error:
            return False
        if reader.error:
            break
        messages += 1
    return messages > 0


def _continuation(data: bytes, *indices: int) -> bool:
    return all(0x80 <= data[index] <= 0xBF for index in indices)


def is_binary_bytes(head: bytes) -> bool:
    """The check on the first 515 bytes of a file."""
    bytes_read = len(head)
    if bytes_read == 0:
        return False
    data = head.ljust(MAX_BYTES + UTF8_BOUNDARY_RESERVE, b"\0")
    total = min(bytes_read, MAX_BYTES + UTF8_BOUNDARY_RESERVE)
    scan = min(total, MAX_BYTES)
    boms = (b"\xef\xbb\xbf", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x84\x31\x95\x33")
    if any(bytes_read >= len(bom) and head.startswith(bom) for bom in boms):
        return False
    if total >= 5 and head.startswith(b"%PDF-"):
        return True
    if bytes_read >= 2 and head[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return False
    suspicious = 0
    index = 0
    while index < scan:
        byte = data[index]
        if byte == 0:
            return True
        if (byte < 7 or byte > 14) and (byte < 32 or byte > 127):
            if 0xC0 <= byte <= 0xDF and index + 1 < total:
                index += 1
                if _continuation(data, index):
                    index += 1
                    continue
            elif 0xE0 <= byte <= 0xEF and index + 2 < total:
                index += 1
                if _continuation(data, index, index + 1):
                    index += 2
                    continue
            elif 0xF0 <= byte <= 0xF7 and index + 3 < total:
                index += 1
                if _continuation(data, index, index + 1, index + 2):
                    index += 3
                    continue
            suspicious += 1
            if index >= 32 and suspicious * 100 / scan > 10:
                return True
        index += 1
    if suspicious * 100 / scan > 10:
        return True
    return suspicious > 1 and _is_binary_proto(data, scan)
