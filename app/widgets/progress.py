"""A job's live progress: one message in the transcript that updates in place.

A 20-pair provisioning reports dozens of times; posting each report as a new
message would bury the conversation.  Instead the first report of a job mounts
one :class:`JobProgressMessage` and every later report for that job rewrites
it ("Forge running: 4/20 steps done. 12/40 ACTIVE, 20/40 BOOTSTRAPPING. ETA 2
min."), ending on the result.  The widget keeps only the newest report, so its
cost does not grow with the job.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol

from rich.text import Text
from textual import events
from textual.widget import Widget

from app.widgets.transcript import Archived, CopyRequested

__all__ = ["JobProgressMessage", "ProgressReport", "progress_bar"]

BAR_WIDTH = 20
FINAL = ("succeeded", "failed", "stopped")
"""A job's last statuses: nothing reported after one of these may replace it."""


class ProgressReport(Protocol):
    """What the widget reads from an engine ``JobProgress`` (kept structural: the app imports no engine type)."""

    @property
    def job(self) -> Any: ...

    @property
    def operator(self) -> str: ...

    @property
    def line(self) -> str: ...


def progress_bar(done: int, failed: int, total: int, width: int = BAR_WIDTH) -> Text:
    """``███████░░░░░`` with failed steps in red: readable in any terminal, no animation to repaint."""
    total = max(total, 1)
    ok_cells = round(width * min(done, total) / total)
    bad_cells = min(round(width * min(failed, total) / total), width - ok_cells)
    bar = Text()
    bar.append("█" * ok_cells, style="green")
    bar.append("█" * bad_cells, style="red")
    bar.append("░" * (width - ok_cells - bad_cells), style="dim")
    return bar


class JobProgressMessage(Widget):
    """The one transcript message for one job, rewritten by each report."""

    DEFAULT_CSS = """
    JobProgressMessage {
        height: auto;
        margin: 1 0 0 0;
        padding: 0 1;
        border-left: outer $success;
    }
    JobProgressMessage.-failed { border-left: outer $error; }
    JobProgressMessage.-succeeded { border-left: outer $success-darken-2; }
    JobProgressMessage.-stopped { border-left: outer $warning; }
    """

    def __init__(self, report: ProgressReport, *, mine: bool = True) -> None:
        super().__init__(classes="-running")
        self.job_id = str(report.job.id)
        self.mine = mine
        """Whether this operator started the job (others' jobs are labelled with who started them)."""
        self.report = report
        self.updates = 1

    @property
    def finished(self) -> bool:
        return str(self.report.job.status) in FINAL

    @property
    def text(self) -> str:
        """The current line, as plain text (copying, tests)."""
        return self.report.line

    def apply(self, report: ProgressReport) -> None:
        """Show a newer report; a late report never replaces a final one (progress arrives out of order)."""
        if self.finished and str(report.job.status) not in FINAL:
            return
        self.report = report
        self.updates += 1
        status = str(report.job.status)
        self.set_class(status == "failed", "-failed")
        self.set_class(status == "succeeded", "-succeeded")
        self.set_class(status == "stopped", "-stopped")
        self.set_class(status not in FINAL, "-running")
        self.refresh(layout=True)

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.post_message(CopyRequested(self.text))

    def archive(self) -> Archived:
        """Pruned from a long session, the job comes back as it last stood."""
        return Archived(self.text, partial(JobProgressMessage, self.report, mine=self.mine))

    def render(self) -> Text:
        job = self.report.job
        out = Text()
        agent = self.report.line.split(" ", 1)[0]
        out.append(f"[{agent}] ", style="bold green" if job.status != "failed" else "bold red")
        if not self.mine and self.report.operator:
            out.append(f"({self.report.operator}'s job) ", style="dim")
        out.append(f"{job.id} ", style="dim")
        out.append_text(progress_bar(int(job.done), int(job.failed), int(job.total)))
        out.append(f" {job.done}/{job.total}\n")
        out.append(self.report.line)
        return out
