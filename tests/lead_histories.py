"""Synthetic lead histories with a planted signal, like a CRM export: one row a lead, a 0/1
outcome near 40%, mostly categorical answers with many "Select" and blanks, a few activity
counts and times, two id columns, and columns typed by sales after the outcome (leaks)."""

from __future__ import annotations

import csv
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SIGNAL = (
    "Lead Origin",
    "Lead Source",
    "Total Time Spent on Website",
    "Current Occupation",
    "Last Activity",
    "Job Title",
    "Employees",
    "TotalVisits",
)
IDS = ("Prospect ID", "Lead Number")
LEAKS = ("Tags", "Lead Quality")

ORIGIN = {"Landing Page Submission": 0.0, "API": -0.4, "Lead Add Form": 2.2, "Lead Import": -0.8}
SOURCE = {
    "Google": 0.1,
    "Direct Traffic": -0.3,
    "Olark Chat": -0.7,
    "Organic Search": 0.0,
    "Reference": 1.6,
    "Welingak Website": 2.0,
    "Referral Sites": -0.2,
    "Facebook": -0.9,
}
OCCUPATION = {
    "Unemployed": 0.0,
    "Working Professional": 2.4,
    "Student": -0.5,
    "Other": 0.3,
    "Housewife": 1.5,
    "Businessman": 0.8,
}
ACTIVITY = {
    "Email Opened": 0.2,
    "SMS Sent": 1.1,
    "Olark Chat Conversation": -1.2,
    "Page Visited on Website": -0.2,
    "Converted to Lead": -1.0,
    "Email Bounced": -1.5,
    "Email Link Clicked": 0.0,
    "Form Submitted on Website": 0.2,
    "Unreachable": -0.4,
}
TITLES = {
    "VP Sales": 0.5,
    "Director of Marketing": 0.4,
    "Analyst": 0.0,
    "Engineer": -0.1,
    "Head of Growth": 0.4,
    "Student": -0.6,
    "Manager": 0.1,
    "Consultant": 0.0,
}
NOISE = {
    "Specialization": [
        "Finance Management",
        "Human Resource Management",
        "Marketing Management",
        "Operations Management",
        "IT Projects Management",
        "Business Administration",
    ],
    "How did you hear about X": [
        "Online Search",
        "Word Of Mouth",
        "Student of SomeSchool",
        "Other",
    ],
    "City": ["Mumbai", "Thane & Outskirts", "Other Cities", "Other Metro Cities", "Tier II Cities"],
    "Country": ["India", "India", "India", "United States", "United Arab Emirates", "Singapore"],
    "Do Not Call": ["No", "No", "No", "No", "Yes"],
    "Search": ["No", "No", "No", "Yes"],
    "Newspaper Article": ["No", "No", "No", "No", "Yes"],
    "Digital Advertisement": ["No", "No", "Yes"],
    "Through Recommendations": ["No", "No", "No", "Yes"],
    "A free copy of Mastering The Interview": ["No", "Yes"],
    "Asymmetrique Profile Index": ["01.High", "02.Medium", "03.Low"],
    "What matters most to you": ["Better Career Prospects", "Flexibility & Convenience", "Other"],
}
CONSTANT = {"Magazine": "No", "Receive More Updates About Our Courses": "No"}
TAGS_GOOD = ["Will revert after reading the email", "Closed by Horizzon", "Lost to EINS"]
TAGS_BAD = [
    "Ringing",
    "Interested in other courses",
    "Already a student",
    "switched off",
    "Not doing further education",
    "invalid number",
]
QUALITY = ["High in Relevance", "Might be", "Not Sure", "Low in Relevance", "Worst"]


@dataclass
class History:
    headers: list[str]
    rows: list[list[str]]
    truth: list[float]  # the generator's own probability of each row's outcome
    outcomes: list[int]

    def write(self, path: Path, *, encoding: str = "utf-8", separator: str = ",") -> Path:
        with path.open("w", newline="", encoding=encoding) as handle:
            writer = csv.writer(handle, delimiter=separator)
            writer.writerow(self.headers)
            writer.writerows(self.rows)
        return path


def _blank(rng: random.Random, value: str, share: float, word: str = "Select") -> str:
    if rng.random() < share:
        return rng.choice([word, "", word])
    return value


def history(rows: int = 3000, *, seed: int = 7, extra_columns: int = 0) -> History:
    """``rows`` leads created a few hours apart; ``extra_columns`` more noise columns (to reach
    40 columns for the benchmark)."""
    rng = random.Random(seed)
    headers = [
        "Prospect ID",
        "Lead Number",
        "Created",
        "Lead Origin",
        "Lead Source",
        "Do Not Email",
        "Converted",
        "TotalVisits",
        "Total Time Spent on Website",
        "Page Views Per Visit",
        "Last Activity",
        "Current Occupation",
        "Job Title",
        "Employees",
        "Tags",
        "Lead Quality",
        *NOISE,
        *CONSTANT,
    ]
    headers += [f"Survey answer {n}" for n in range(extra_columns)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out: list[list[str]] = []
    truth: list[float] = []
    outcomes: list[int] = []
    for index in range(rows):
        origin = rng.choices(list(ORIGIN), weights=[50, 38, 8, 4])[0]
        source = rng.choice(list(SOURCE))
        occupation = rng.choices(list(OCCUPATION), weights=[60, 15, 10, 5, 5, 5])[0]
        activity = rng.choice(list(ACTIVITY))
        title = rng.choice(list(TITLES))
        employees = int(math.exp(rng.uniform(1.5, 8.5)))
        seconds = 0 if rng.random() < 0.25 else int(rng.expovariate(1 / 600))
        visits = int(rng.expovariate(1 / 4)) if seconds else 0
        do_not_email = "Yes" if rng.random() < 0.08 else "No"
        logit = -1.15 + ORIGIN[origin] + SOURCE[source] + OCCUPATION[occupation]
        logit += ACTIVITY[activity] + TITLES[title] + (0.3 if employees >= 200 else 0.0)
        # Time on the site matters, with diminishing returns; none at all is a bad sign.
        logit += 1.6 * math.tanh((seconds - 500) / 400) + (-0.6 if do_not_email == "Yes" else 0)
        logit += 0.05 * min(visits, 10)
        p = 1 / (1 + math.exp(-logit))
        converted = int(rng.random() < p)
        tags = (
            rng.choice(TAGS_GOOD if converted else TAGS_BAD)
            if rng.random() < 0.96
            else rng.choice(TAGS_GOOD + TAGS_BAD)
        )
        quality = QUALITY[rng.choice([0, 1]) if converted else rng.choice([2, 3, 4])]
        created = start + timedelta(hours=3 * index, minutes=rng.randrange(60))
        row = [
            uuid.UUID(int=rng.getrandbits(128)).hex,
            str(660000 + index * 3 + rng.randrange(3)),
            created.strftime("%Y-%m-%d %H:%M"),
            origin,
            _blank(rng, source, 0.01, ""),
            do_not_email,
            str(converted),
            _blank(rng, str(visits), 0.015, ""),
            str(seconds),
            _blank(rng, f"{(visits / max(1, visits // 2 + 1)):.2f}", 0.015, ""),
            _blank(rng, activity, 0.01, ""),
            _blank(rng, occupation, 0.3, ""),
            _blank(rng, title, 0.1, ""),
            _blank(rng, str(employees), 0.1, ""),
            _blank(rng, tags, 0.35, ""),
            _blank(rng, quality, 0.5, ""),
            *(_blank(rng, rng.choice(values), 0.4) for values in NOISE.values()),
            *CONSTANT.values(),
            *(_blank(rng, rng.choice(["a", "b", "c", "d"]), 0.5) for _ in range(extra_columns)),
        ]
        out.append(row)
        truth.append(p)
        outcomes.append(converted)
    return History(headers, out, truth, outcomes)
