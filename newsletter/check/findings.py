"""What a check reports: findings with a severity, a place and a fix, and the report of one email."""

from __future__ import annotations

from dataclasses import dataclass, field

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: which check found it, how bad it is, where it is and how to fix it."""

    check: str
    severity: str  # ERROR or WARNING
    message: str
    fix: str
    element: str | None = None  # '<img src="...">', a header name, or None for the whole email
    line: int | None = None     # line in the HTML (or the .eml for header lines), 1-based
    clients: tuple[str, ...] = ()
    count: int = 1              # how many places have the same problem; `element`/`line` is the first

    def where(self) -> str:
        parts = [f"line {self.line}" if self.line else "", self.element or ""]
        return " ".join(p for p in parts if p)

    def as_dict(self) -> dict:
        return {"check": self.check, "severity": self.severity, "message": self.message, "fix": self.fix,
                "element": self.element, "line": self.line, "clients": list(self.clients), "count": self.count}


@dataclass
class Report:
    """The findings of one email, errors first."""

    source: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def summary(self) -> str:
        """'no findings', or '2 errors, 1 warning'."""
        if not self.findings:
            return "no findings"
        errors, warnings = len(self.errors), len(self.warnings)
        return f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"

    def as_dict(self) -> dict:
        return {"source": self.source, "errors": len(self.errors), "warnings": len(self.warnings),
                "findings": [f.as_dict() for f in self.findings]}
