"""CSV cells a spreadsheet will not run as formulas (OWASP "CSV injection"), and back again.

A cell that starts with = + - @ tab or CR is taken for a formula by Excel, LibreOffice and
Google Sheets (a subscriber named '=HYPERLINK(...)'). Such a cell is written with a single
quote in front, which spreadsheets show as text. So that reading our own export back is
exact, a cell that already starts with a quote followed by one of those (or by a quote) gets
one more; restore() takes exactly one off.
"""

from __future__ import annotations

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*TRIGGERS, "'")


def neutralize(cell: str) -> str:
    """The cell as written to CSV: a leading ' added where a spreadsheet would see a formula."""
    if cell.startswith(TRIGGERS) or (cell.startswith("'") and cell[1:2] in _ESCAPED and cell[1:2]):
        return "'" + cell
    return cell


def restore(cell: str) -> str:
    """The cell as it was before neutralize()."""
    if cell.startswith("'") and cell[1:2] and cell[1:2] in _ESCAPED:
        return cell[1:]
    return cell
