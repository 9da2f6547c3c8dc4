"""Say which line of a CSV run is wrong and why, once polars has refused the run.

polars reports a malformed block without a usable position. :func:`diagnose` reads the
run again, line by line in Python (only on this error path, so its speed does not
matter much; lines without a quote take a fast path), and finds the first of: a row with
more fields than the header, a stray quote inside an unquoted field, text after a
closing quote, a quote never closed. Lines are numbered from 1 across the whole input.
"""

from __future__ import annotations

_QUOTE = b'"'
_NEWLINE = b"\n"
_CR = b"\r"


class CsvError(ValueError):
    """What is wrong at ``line`` (1-based) of a CSV input."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


def diagnose(run: bytes, line: int, width: int, sep: bytes) -> CsvError | None:
    """The first problem of ``run`` (which starts a record, on ``line``), if one is seen."""
    scan = _Scan(sep[0])
    for number, text in enumerate(run.split(_NEWLINE), start=line):
        problem = scan.line(text.removesuffix(_CR), number)
        if problem is not None:
            return CsvError(number, problem)
        if not scan.quoted and scan.fields > width:
            return CsvError(
                number,
                f"this row has {scan.fields} fields but the header has {width}; quote a "
                "field that holds the separator, or remove the extra ones",
            )
        if not scan.quoted:
            scan.fields = 1
    if scan.quoted:
        return CsvError(
            scan.opened, "a quote opened on this line is never closed; close it or remove it"
        )
    return None


class _Scan:
    """Field and quote state across the lines of one run (see :func:`_diagnose`)."""

    _START, _PLAIN, _QUOTED, _QUOTE_SEEN = range(4)

    def __init__(self, sep: int) -> None:
        self.sep = sep
        self.state = self._START
        self.fields = 1
        self.opened = 0  # the line where the quoted field now open started

    @property
    def quoted(self) -> bool:
        return self.state == self._QUOTED

    def line(self, text: bytes, number: int) -> str | None:
        """Take line ``number``; a problem found on it, or ``None``."""
        if self.state != self._QUOTED and _QUOTE not in text:
            self.fields += text.count(self.sep)
            self.state = self._START
            return None
        for byte in text:
            problem = self._byte(byte, number)
            if problem is not None:
                return problem
        if self.state != self._QUOTED:
            self.state = self._START
        return None

    def _byte(self, byte: int, number: int) -> str | None:
        state, quote = self.state, _QUOTE[0]
        if state == self._QUOTED:
            self.state = self._QUOTE_SEEN if byte == quote else state
        elif state == self._QUOTE_SEEN and byte == quote:
            self.state = self._QUOTED  # an escaped quote
        elif byte == self.sep:
            self.fields += 1
            self.state = self._START
        elif state == self._QUOTE_SEEN:
            return 'text after the closing quote of a field; write a quote inside a field as ""'
        elif byte == quote and state == self._PLAIN:
            return (
                "a stray quote inside a field; quote the whole field and write the quote "
                'as "" ("5"" screen")'
            )
        elif byte == quote:
            self.state, self.opened = self._QUOTED, number
        else:
            self.state = self._PLAIN
        return None
