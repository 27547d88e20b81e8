"""Cron schedules exactly as a Kubernetes CronJob accepts them.

The API server validates `spec.schedule` with `cron.ParseStandard` of github.com/robfig/cron/v3
(kubernetes `pkg/apis/batch/validation/validation.go`, `validateScheduleFormat`) and refuses a `TZ=` or
`CRON_TZ=` prefix on new objects ("cannot use TZ or CRON_TZ in schedule, use timeZone field instead").
What that parser (v3.0.1, `parser.go`, `spec.go`) accepts:

- five whitespace-separated fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or `jan`-`dec`,
  day of week 0-6 or `sun`-`sat` (names case-insensitive; 7 is not Sunday there);
- each field a comma-separated list of `*` or `?`, `N`, `N-M`, with an optional `/step` (`N/step` means
  `N-max/step`); a range must not start below the minimum, end above the maximum or run backwards, and the
  step must be a positive number ("step of range should be a positive number");
- the descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`, and
  `@every <Go duration>`, written exactly so (no surrounding text, lowercase).

The Kubernetes CronJob docs list the same macros ("Other than the standard syntax, some macros like
`@monthly` can also be used": https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-syntax).
"""

from __future__ import annotations

import re

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (field name, minimum, maximum, names)
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
# Go's time.ParseDuration: an optionally signed sequence of decimal numbers with a unit each.
_GO_DURATION = re.compile(r"^[+-]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")
_FORM = "five fields (minute hour day-of-month month day-of-week, e.g. `0 * * * *`) or a macro such as `@hourly`"


def schedule_problem(schedule: str) -> str | None:
    """Why a CronJob would refuse `schedule` (an English sentence saying what to write), or None."""
    if not schedule.strip():
        return f"is empty; write {_FORM}"
    if "TZ" in schedule:
        return (f"`{schedule}` sets a time zone; Kubernetes refuses TZ= and CRON_TZ= in a CronJob schedule "
                "(the drift CronJobs set `timeZone: Etc/UTC`), so remove it and write the time in UTC")
    if schedule.startswith("@"):
        if schedule in MACROS:
            return None
        if schedule.startswith("@every "):
            if _GO_DURATION.match(schedule[len("@every "):]) and not schedule[len("@every "):].startswith("-"):
                return None
            return f"`{schedule}` has no valid duration; write e.g. `@every 1h30m` (units h, m, s)"
        return f"`{schedule}` is not a cron macro; use one of {', '.join(f'`{m}`' for m in MACROS)}"
    fields = schedule.split()
    if len(fields) != 5:
        return f"`{schedule}` has {len(fields)} field{'s' if len(fields) != 1 else ''}; write {_FORM}"
    for text, (name, low, high, names) in zip(fields, FIELDS, strict=True):
        problem = _field_problem(text, name, low, high, names)
        if problem:
            return f"`{schedule}`: {problem}"
    return None


def _number(text: str, names: dict[str, int]) -> int | None:
    if text.lower() in names:
        return names[text.lower()]
    if re.fullmatch(r"\+?\d+", text):  # Go's strconv.Atoi takes an optional sign; `-` splits ranges first
        return int(text)
    return None


def _field_problem(text: str, name: str, low: int, high: int, names: dict[str, int]) -> str | None:
    allowed = f"{low}-{high}" + (f" or {next(iter(names))}-{list(names)[-1]}" if names else "")
    parts = [p for p in text.split(",") if p]
    if not parts:
        return f"the {name} field `{text}` lists nothing; write a value ({allowed}) or `*`"
    for part in parts:
        range_step = part.split("/")
        if len(range_step) > 2:
            return f"the {name} field `{part}` has more than one `/`; write `range/step`, e.g. `*/15`"
        bounds = range_step[0].split("-")
        if bounds[0] in ("*", "?"):
            if len(bounds) > 1:
                return f"the {name} field `{part}` mixes `*` with a range; write `*` or `N-M`"
            start, end = low, high
        else:
            if len(bounds) > 2:
                return f"the {name} field `{part}` has more than one `-`; write a range as `N-M`"
            values = [_number(b, names) for b in bounds]
            for raw, value in zip(bounds, values, strict=True):
                if value is None:
                    return f"the {name} field has `{raw}`, which is not a number or name; use {allowed}"
            start = values[0]  # type: ignore[assignment]
            end = values[-1] if len(values) == 2 else start  # type: ignore[assignment]
            if len(range_step) == 2 and len(bounds) == 1:
                end = high  # `N/step` means `N-max/step`
        if len(range_step) == 2:
            step = _number(range_step[1], {})
            if step is None or step == 0:
                return f"the {name} field `{part}` needs a positive whole step after `/`, e.g. `*/15`"
        if start < low or end > high:
            sunday = " (Sunday is 0)" if name == "day of week" else ""
            return f"the {name} field `{part}` is out of range; use {allowed}{sunday}"
        if start > end:
            return f"the {name} range `{part}` runs backwards; write the smaller value first"
    return None
