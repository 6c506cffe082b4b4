"""Who the lead is and how to reach them: names, nicknames, emails, phones, and which of the
contacts are usable."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .arrays import _obj, _p, _permute, _put, _title

if TYPE_CHECKING:
    from .chunk import _Chunk

_FIRST = (
    "JAMES", "JOHN", "ROBERT", "MICHAEL", "WILLIAM", "DAVID", "RICHARD", "JOSEPH", "THOMAS",
    "CHARLES", "CHRISTOPHER", "DANIEL", "MATTHEW", "ANTHONY", "MARK", "DONALD", "STEVEN",
    "PAUL", "ANDREW", "JOSHUA", "KENNETH", "KEVIN", "BRIAN", "GEORGE", "TIMOTHY", "RONALD",
    "EDWARD", "JASON", "JEFFREY", "RYAN", "JOSE", "LUIS", "CARLOS", "JUAN", "MIGUEL",
    "TERRENCE", "DESHAWN", "MARCUS", "HUNG", "MINH", "MARY", "PATRICIA", "JENNIFER", "LINDA",
    "ELIZABETH", "BARBARA", "SUSAN", "JESSICA", "SARAH", "KAREN", "LISA", "NANCY", "BETTY",
    "MARGARET", "SANDRA", "ASHLEY", "KIMBERLY", "EMILY", "DONNA", "MICHELLE", "DOROTHY",
    "CAROL", "AMANDA", "MELISSA", "DEBORAH", "STEPHANIE", "REBECCA", "SHARON", "LAURA",
    "CYNTHIA", "MARIA", "ROSA", "GUADALUPE", "LATOYA", "KEISHA", "TAMIKA", "LAN", "MAI", "ANNE",
    "GLORIA",
)  # fmt: skip
_NICKNAMES = {
    "JAMES": "Jim", "ROBERT": "Bob", "MICHAEL": "Mike", "WILLIAM": "Bill", "RICHARD": "Rick",
    "JOSEPH": "Joe", "THOMAS": "Tom", "CHARLES": "Chuck", "CHRISTOPHER": "Chris",
    "DANIEL": "Dan", "MATTHEW": "Matt", "ANTHONY": "Tony", "STEVEN": "Steve", "ANDREW": "Andy",
    "KENNETH": "Ken", "TIMOTHY": "Tim", "RONALD": "Ron", "EDWARD": "Ed", "JEFFREY": "Jeff",
    "DONALD": "Don", "ELIZABETH": "Liz", "PATRICIA": "Patty", "JENNIFER": "Jen",
    "MARGARET": "Peggy", "KIMBERLY": "Kim", "DEBORAH": "Debbie", "REBECCA": "Becky",
    "CYNTHIA": "Cindy", "SUSAN": "Sue", "STEPHANIE": "Steph",
}  # fmt: skip
_LAST = (
    "SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ",
    "MARTINEZ", "HERNANDEZ", "LOPEZ", "GONZALEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR",
    "MOORE", "JACKSON", "MARTIN", "LEE", "PEREZ", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ",
    "CLARK", "RAMIREZ", "LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT",
    "SCOTT", "TORRES", "NGUYEN", "HILL", "FLORES", "GREEN", "ADAMS", "NELSON", "BAKER", "HALL",
    "RIVERA", "CAMPBELL", "MITCHELL", "CARTER", "ROBERTS", "GOMEZ", "PHILLIPS", "EVANS",
    "TURNER", "DIAZ", "PARKER", "CRUZ", "EDWARDS", "COLLINS", "REYES", "STEWART", "MORRIS",
    "MORALES", "MURPHY", "COOK", "ROGERS", "GUTIERREZ", "ORTIZ", "MORGAN", "COOPER",
    "PETERSON", "BAILEY", "REED", "KELLY", "HOWARD", "RAMOS", "KIM", "COX", "WARD",
    "RICHARDSON", "WATSON", "BROOKS", "CHAVEZ", "WOOD", "BENNETT", "GRAY", "MENDOZA", "RUIZ",
    "HUGHES", "PRICE", "ALVAREZ", "CASTILLO", "SANDERS", "PATEL", "MYERS", "LONG", "ROSS",
    "FOSTER", "JIMENEZ", "POWELL", "JENKINS", "PERRY", "RUSSELL", "SULLIVAN", "BELL", "COLEMAN",
    "BUTLER", "HENDERSON", "BARNES", "FISHER", "VASQUEZ", "SIMMONS", "ROMERO", "JORDAN",
    "PATTERSON", "HAMILTON", "GRAHAM", "REYNOLDS", "GRIFFIN", "WALLACE", "MORENO", "HAYES",
    "BRYANT", "HERRERA", "GIBSON", "ELLIS", "TRAN", "MEDINA", "AGUILAR", "MURRAY", "CASTRO",
    "OWENS", "FERNANDEZ", "MCDONALD", "WOODS", "KENNEDY", "VARGAS", "CHEN", "FREEMAN", "WEBB",
    "TUCKER", "GUZMAN", "BURNS", "OLSON", "PORTER", "HUNTER", "SILVA", "SHAW", "SNYDER",
    "DIXON", "MUNOZ", "HOLMES", "WAGNER", "SALAZAR", "GARZA", "SOTO", "WEAVER", "O'BRIEN",
    "DE LA CRUZ", "MCCARTHY", "NGO", "PHAM", "OKAFOR", "ABERNATHY",
)  # fmt: skip
_EMAIL_DOMAINS = (
    "example.com", "example.net", "example.org", "gmail.com", "yahoo.com", "hotmail.com",
    "outlook.com", "aol.com",
)  # fmt: skip
_EMAIL_DOMAIN_SHARE = (0.25, 0.15, 0.10, 0.25, 0.10, 0.05, 0.05, 0.05)


def contact_states(rng: np.random.Generator, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Email and phone states (0 valid, 1 invalid, 2 missing) by source."""
    n = len(src)
    email_p = np.array(
        [[.88, .06, .06], [.85, .07, .08], [.45, .04, .51], [.30, .03, .67],
         [.25, .03, .72], [.70, .03, .27], [.35, .10, .55], [.75, .10, .15]]
    )  # fmt: skip
    phone_p = np.array(
        [[.78, .08, .14], [.80, .08, .12], [.85, .05, .10], [.95, .03, .02],
         [.93, .05, .02], [.90, .03, .07], [.75, .15, .10], [.70, .15, .15]]
    )  # fmt: skip
    u = rng.random((n, 2))
    email_state = (u[:, :1] > np.cumsum(email_p[src], axis=1)).sum(axis=1).clip(0, 2)
    phone_state = (u[:, 1:] > np.cumsum(phone_p[src], axis=1)).sum(axis=1).clip(0, 2)
    both_missing = (email_state == 2) & (phone_state == 2)
    phone_state[both_missing] = np.where(rng.random(int(both_missing.sum())) < 0.85, 0, 1)
    return email_state, phone_state


def name_columns(chunk: _Chunk, cols: dict) -> tuple[np.ndarray, np.ndarray]:
    """The first_name and last_name columns; returns the first and last name indices."""
    rng, n, p = chunk.rng, chunk.n, chunk.parcels
    otype = p.owner_type[:n]
    # Who fills in the form: 0 owner, 1 relative, 2 someone else (agent, member), 3 tenant.
    rel = np.where(rng.random(n) < 0.8, 0, rng.choice([1, 2, 3], n, p=[0.4, 0.35, 0.25]))
    rel[(rel == 3) & (p.occupancy[:n] != 1)] = 0
    inherited = chunk.motivation == 2
    rel[inherited & (rng.random(n) < 0.45)] = 1
    rel[otype == 3] = np.where(rng.random(int((otype == 3).sum())) < 0.85, 1, 2)  # estate
    rel[otype == 1] = 2  # LLC: a member or manager
    trust = otype == 2
    rel[trust] = np.where(rng.random(int(trust.sum())) < 0.5, 1, 2)
    first = np.where(rel == 0, p.first[:n], rng.integers(0, len(_FIRST), n))
    last = np.where(rel <= 1, p.last[:n], rng.integers(0, len(_LAST), n))
    first_txt = _obj([_title(s) for s in _FIRST])[first]
    nick = np.flatnonzero(rng.random(n) < 0.15)
    first_txt[nick] = _obj(
        [_NICKNAMES.get(_FIRST[f], _title(_FIRST[f])) for f in first[nick].tolist()]
    )
    last_txt = _obj([_title(s) for s in _LAST])[last]
    case = rng.choice(4, n, p=[0.82, 0.08, 0.05, 0.05])
    for arr in (first_txt, last_txt):
        lower = np.flatnonzero(case == 1)
        arr[lower] = _obj([s.lower() for s in arr[lower].tolist()])
        upper = np.flatnonzero(case == 2)
        arr[upper] = _obj([s.upper() for s in arr[upper].tolist()])
        arr[case == 3] = ""
    full = np.flatnonzero((rng.random(n) < 0.03) & (case != 3))
    first_txt[full] = _obj(
        [f"{a} {b}" for a, b in zip(first_txt[full].tolist(), last_txt[full].tolist(), strict=True)]
    )
    last_txt[full] = ""
    cols["first_name"] = first_txt
    cols["last_name"] = last_txt
    return first, last


def contact_columns(chunk: _Chunk, cols: dict, first: np.ndarray, last: np.ndarray) -> None:
    """The email and phone columns, as typed, with the invalid and missing ones."""
    rng, n, book = chunk.rng, chunk.n, chunk.book
    g = book.geo
    # Email: name-based local part, a unique-ish number, mostly example/free-mail domains.
    f_low = _obj([s.lower().replace("'", "").replace(" ", "") for s in _FIRST])[first]
    l_low = _obj([s.lower().replace("'", "").replace(" ", "") for s in _LAST])[last]
    num = _permute(chunk.idx, 10_000, book.key_email)
    style = rng.integers(0, 5, n)
    dom = _obj(_EMAIL_DOMAINS)[rng.choice(len(_EMAIL_DOMAINS), n, p=_p(_EMAIL_DOMAIN_SHARE))]
    local_fmt = (
        lambda f, last, k: f"{f}.{last}",
        lambda f, last, k: f"{f[0]}{last}{k % 100}",
        lambda f, last, k: f"{f}{last}{k}",
        lambda f, last, k: f"{last}.{f}{k % 1000}",
        lambda f, last, k: f"{f}_{last}{k % 100:02d}",
    )
    emails = [
        f"{local_fmt[s](a, b, k)}@{d}"
        for s, a, b, k, d in zip(
            style.tolist(),
            f_low.tolist(),
            l_low.tolist(),
            num.tolist(),
            dom.tolist(),
            strict=True,
        )
    ]
    emails_arr = _obj(emails)
    # Typed variously: capitalised, surrounding spaces.
    caps = np.flatnonzero(rng.random(n) < 0.08)
    emails_arr[caps] = _obj([e.capitalize() for e in emails_arr[caps].tolist()])
    spaced = np.flatnonzero(rng.random(n) < 0.03)
    emails_arr[spaced] = _obj([f" {e} " for e in emails_arr[spaced].tolist()])
    invalid = np.flatnonzero(chunk.email_state == 1)
    kinds = rng.integers(0, 5, len(invalid)).tolist()
    broken = []
    for e, kind in zip(emails_arr[invalid].tolist(), kinds, strict=True):
        e = e.strip()
        local, _, domain = e.partition("@")
        broken.append(
            (
                f"{local}.{domain}",  # no @
                f"{local}@{domain.split('.')[0]}",  # no TLD
                f"{local[:2]} {local[2:]}@{domain}",  # a space
                f"{local}@@{domain}",
                f"{local}@{domain},",
            )[kind]
        )
    _put(emails_arr, invalid, broken)
    emails_arr[chunk.email_state == 2] = ""
    cols["email"] = emails_arr
    # Phone: <area code>-555-<line>, unique per lead (up to len(area codes) * 10,000).
    slot = _permute(chunk.idx, len(g.area_codes) * 10_000, book.key_phone)
    ac = g.area_codes[slot // 10_000].tolist()
    line = (slot % 10_000).tolist()
    pstyle = rng.choice(7, n, p=_p((0.3, 0.12, 0.1, 0.18, 0.18, 0.06, 0.06))).tolist()
    phone_fmt = (
        "({}) 555-{:04d}",
        "{}.555.{:04d}",
        "+1 {} 555 {:04d}",
        "{}555{:04d}",
        "{}-555-{:04d}",
        "1-{}-555-{:04d}",
        "{} 555 {:04d}",
    )
    phones = _obj([phone_fmt[s].format(a, b) for s, a, b in zip(pstyle, ac, line, strict=True)])
    invalid = np.flatnonzero(chunk.phone_state == 1)
    kinds = rng.integers(0, 4, len(invalid)).tolist()
    bad_phones = [
        (
            f"{a}-555-{b:04d}"[:-2],  # two digits short
            f"555-{b:04d}"[:-1],  # seven digits typed, one lost
            "call after 5",  # not a number at all (an "n/a" would be no contact)
            f"{a}555{b:04d}7",  # a digit too many
        )[kind]
        for kind, a, b in zip(
            kinds, [ac[i] for i in invalid], [line[i] for i in invalid], strict=True
        )
    ]
    _put(phones, invalid, bad_phones)
    phones[chunk.phone_state == 2] = ""
    cols["phone"] = phones
