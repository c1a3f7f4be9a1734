"""TFRecord files and ``tf.train.Example`` records, without TensorFlow.

A TFRecord file is a sequence of records, each framed as::

    uint64 length | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)

(little-endian). Both CRCs are verified. A bad data CRC spoils one record (the framing is
intact, reading goes on); a bad length CRC or a truncated file spoils the rest of the file.

``tf.train.Example`` is the protobuf message::

    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }
    Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                            Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1; }
    Int64List { repeated int64 value = 1; }

decoded here by a small wire-format reader into ``{name: list of bytes | float | int}``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO

import google_crc32c

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


class RecordError(ValueError):
    """A record cannot be used. ``fatal``: the rest of the file cannot be read either."""

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def masked_crc32c(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def iter_records(stream: IO[bytes]) -> Iterator[bytes | RecordError]:
    """The records' data in order; a RecordError in place of a record that fails its CRC
    (then, if the error is fatal, nothing more)."""
    while True:
        header = stream.read(_HEADER.size)
        if not header:
            return
        if len(header) < _HEADER.size:
            yield RecordError("truncated record header (file cut short)", fatal=True)
            return
        length, length_crc = _HEADER.unpack(header)
        if masked_crc32c(header[:8]) != length_crc:
            yield RecordError("corrupt record length (length CRC mismatch)", fatal=True)
            return
        data = stream.read(length)
        footer = stream.read(_FOOTER.size)
        if len(data) < length or len(footer) < _FOOTER.size:
            yield RecordError("truncated record (file cut short)", fatal=True)
            return
        if masked_crc32c(data) != _FOOTER.unpack(footer)[0]:
            yield RecordError("corrupt record data (data CRC mismatch)")
            continue
        yield data


# --------------------------------------------------------------------------- protobuf

Value = bytes | float | int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise RecordError("truncated varint in tf.train.Example")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise RecordError("varint too long in tf.train.Example")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a message: an int for varints, bytes otherwise."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise RecordError("truncated field in tf.train.Example")
            yield number, wire, buf[pos : pos + size]
            pos += size
        elif wire == 5:
            if pos + 4 > end:
                raise RecordError("truncated fixed32 in tf.train.Example")
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        elif wire == 1:
            if pos + 8 > end:
                raise RecordError("truncated fixed64 in tf.train.Example")
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        else:
            raise RecordError(f"unsupported protobuf wire type {wire} in tf.train.Example")


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _floats(wire: int, value: int | bytes) -> list[float]:
    assert isinstance(value, bytes)
    if wire == 5 or (wire == 2 and len(value) % 4 == 0):
        return list(struct.unpack(f"<{len(value) // 4}f", value))
    raise RecordError("malformed FloatList in tf.train.Example")


def _int64s(wire: int, value: int | bytes) -> list[int]:
    if wire == 0:
        assert isinstance(value, int)
        return [_signed64(value)]
    assert isinstance(value, bytes)
    values: list[int] = []
    pos = 0
    while pos < len(value):
        item, pos = _varint(value, pos)
        values.append(_signed64(item))
    return values


#: Kinds of a Feature's value list, by its oneof field number.
KINDS = {1: "bytes", 2: "float", 3: "int64"}


def _feature(buf: bytes) -> tuple[str, list[Value]]:
    kind = ""
    values: list[Value] = []
    for number, _wire, kind_list in _fields(buf):
        if number not in KINDS or not isinstance(kind_list, bytes):
            continue
        kind = KINDS[number]
        for item_number, item_wire, item in _fields(kind_list):
            if item_number != 1:
                continue
            if number == 1:
                if not isinstance(item, bytes):
                    raise RecordError("malformed BytesList in tf.train.Example")
                values.append(item)
            elif number == 2:
                values.extend(_floats(item_wire, item))
            else:
                values.extend(_int64s(item_wire, item))
    return kind, values


def parse_example(data: bytes) -> dict[str, tuple[str, list[Value]]]:
    """``{feature name: (kind, values)}`` of a serialized ``tf.train.Example``; kind is
    ``bytes``, ``float`` or ``int64`` (empty when the Feature has no list)."""
    features: dict[str, tuple[str, list[Value]]] = {}
    for number, _wire, payload in _fields(data):
        if number != 1 or not isinstance(payload, bytes):
            continue
        for entry_number, _entry_wire, entry in _fields(payload):
            if entry_number != 1 or not isinstance(entry, bytes):
                continue
            name = ""
            feature: tuple[str, list[Value]] = ("", [])
            for field_number, _field_wire, item in _fields(entry):
                if field_number == 1 and isinstance(item, bytes):
                    name = item.decode("utf-8", errors="replace")
                elif field_number == 2 and isinstance(item, bytes):
                    feature = _feature(item)
            features[name] = feature
    return features
