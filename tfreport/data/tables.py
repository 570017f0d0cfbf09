"""The one CSV reader of the raw layouts: it checks a table's shape, so a broken file is an
error naming the file and the line, never studies silently lost or merged.

The rule (docs/reliability.md):

1. the header has every required column;
2. every record has exactly as many fields as the header (a short last row is a file cut
   short; a long row is an unquoted comma or a stray quote);
3. quotes are strict: a quoted field closes only before a comma or a line end, and the file
   may not end inside one;
4. a quoted field may hold line breaks, but none of its lines may be a whole row of the table
   on its own (as many fields as the header, starting with the first column's kind of
   value): that is an unclosed quote that swallowed the rows after it.

Blank lines are skipped and a UTF-8 byte-order mark (spreadsheet exports) is allowed.
Plain or gzipped files; ``errors="surrogateescape"`` keeps undecodable bytes in the fields
(the IU X-Ray reader drops those rows as non-UTF-8 text), ``"strict"`` makes them an error.
"""
from __future__ import annotations

import csv
import gzip
import io
import zlib
from typing import Dict, Iterator, List

from tfreport import fileio
from tfreport.data.study import LayoutError

LINE = "_line"  # each row's key for the line its record starts on


def columns_error(path: str, header: List[str], required: set) -> str:
    """The message for a header that lacks required columns."""
    missing = sorted(required - set(header))
    unknown = sorted(set(header) - required)
    if unknown:
        return (f"{path}: unknown CSV columns {unknown}; missing required columns {missing} "
                f"(expected {sorted(required)})")
    return f"{path}: missing column(s) {', '.join(missing)} (expected {sorted(required)})"


def _looks_like_row(line: str, width: int, first_values: set) -> bool:
    """Whether one physical line parses on its own as a whole row of the table."""
    try:
        fields = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return False
    if len(fields) != width:
        return False
    first = fields[0].strip()
    numeric = bool(first_values) and all(v.isdigit() for v in first_values)
    return first.isdigit() if numeric else bool(first)


def read_table(path: str, required: set, errors: str = "strict") -> Iterator[Dict[str, str]]:
    """Rows of a plain or gzipped CSV as {column: value, "_line": line}, checked by the rule
    above; a broken table raises :class:`LayoutError` naming the file and the line."""
    if not fileio.exists(path):
        raise LayoutError(f"{path}: file not found")
    raw = fileio.open(path, "rb")  # gunzipped when the name ends in .gz; local or a URL
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors=errors, newline="") as f:
        reader = csv.reader(f, strict=True)
        start = 1
        try:
            header = next(reader, None)
            if header is None:
                raise LayoutError(f"{path}: empty file (no header row)")
            if required - set(header):
                raise LayoutError(columns_error(path, header, required))
            width, firsts = len(header), set()
            start = reader.line_num + 1
            for fields in reader:
                if not fields:  # a blank line, as csv.DictReader skips it
                    start = reader.line_num + 1
                    continue
                if len(fields) != width:
                    raise LayoutError(
                        f"{path}, line {start}: {len(fields)} field{'s' * (len(fields) != 1)}, "
                        f"the header has {width} "
                        "(a file cut short, an unquoted comma or an unclosed quote)")
                spans = reader.line_num - start + 1
                if spans > 1 and any(_looks_like_row(line, width, firsts)
                                     for v in fields if "\n" in v
                                     for line in v.splitlines()[1:]):
                    raise LayoutError(
                        f"{path}, line {start}: a quoted field runs over {spans} lines and "
                        "holds what looks like whole rows (an unclosed quote?)")
                if len(firsts) < 100:
                    firsts.add(fields[0].strip())
                row = dict(zip(header, fields))
                row[LINE] = str(start)
                yield row
                start = reader.line_num + 1
        except csv.Error as e:
            raise LayoutError(f"{path}, line {start}: malformed CSV ({e}; an unclosed "
                              "quote?)") from None
        except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise LayoutError(f"{path}: unreadable ({e})") from None
