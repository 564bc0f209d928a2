"""The select stage: which articles an issue carries, by the rule or by the editor's draft file.

Imports only the leaves (model, errors, config, cadence): never another stage. It queries
the store it is handed, through the methods Store offers.
"""

from newsletter.select.draftfile import DraftFile, DraftLine, format_draft, parse_draft
from newsletter.select.rule import (IssueSlot, Selection, held_over, select_articles, select_issue, slot_for_date,
                                    slot_for_key, slot_for_run)

__all__ = ["DraftFile", "DraftLine", "IssueSlot", "Selection", "format_draft", "held_over", "parse_draft",
           "select_articles", "select_issue", "slot_for_date", "slot_for_key", "slot_for_run"]
