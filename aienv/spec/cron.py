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

import itertools
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


# The macros as robfig/cron/v3 expands them (parser.go, `parseDescriptor`).
_MACRO_FIELDS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                 "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _values(text: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """The values a valid field matches, and whether robfig marks it as a star (`*` or `?` without a step
    above 1: then day-of-month and day-of-week must both match, otherwise either does)."""
    values: set[int] = set()
    star = False
    for part in (p for p in text.split(",") if p):
        range_text, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        bounds = range_text.split("-")
        if bounds[0] in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        else:
            start = _number(bounds[0], names) or 0
            end = _number(bounds[-1], names) or 0 if len(bounds) == 2 else (high if step_text else start)
        values.update(range(start, end + 1, step))
    return values, star


def longest_gap_seconds(schedule: str) -> float | None:
    """The longest time between two runs of a valid schedule (UTC, as the drift CronJobs run), or None when it
    never fires (e.g. `0 0 31 2 *`). Used to tell a drift score that stopped being refreshed from a current one."""
    import datetime as dt

    if schedule.startswith("@every "):
        return sum(float(n) * _GO_UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)",
                                                                       schedule[len("@every "):]))
    fields = _MACRO_FIELDS.get(schedule, schedule).split()
    parsed = [_values(text, low, high, names) for text, (_, low, high, names) in zip(fields, FIELDS, strict=True)]
    (minutes, _), (hours, _), (doms, dom_star), (months, _), (dows, dow_star) = parsed
    day_times = sorted(h * 60 + m for h in hours for m in minutes)
    within_day = max((b - a for a, b in itertools.pairwise(day_times)), default=0)
    # Eight years from a leap year cover every calendar pattern of the Gregorian cycle that a schedule can hit
    # before 2100, so a gap such as Feb 29 to Feb 29 is measured too.
    first = dt.date(2024, 1, 1)
    previous_last: int | None = None
    gap = within_day
    for offset in range(8 * 366):
        day = first + dt.timedelta(days=offset)
        dom_match, dow_match = day.day in doms, (day.weekday() + 1) % 7 in dows
        matches = (dom_match and dow_match) if (dom_star or dow_star) else (dom_match or dow_match)
        if day.month not in months or not matches:
            continue
        start = offset * 1440
        if previous_last is not None:
            gap = max(gap, start + day_times[0] - previous_last)
        previous_last = start + day_times[-1]
    return None if previous_last is None else gap * 60.0
