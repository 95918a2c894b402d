"""Which festivals are greeted, on which dates, and which customers each one fits.

Dates come from the `holidays` package's calendars, lunar festivals included (the CN calendar
computes Spring Festival, the Dragon Boat and Mid-Autumn festivals for each year). A festival
fits a customer by language and region; the region is the country of the customer's IANA time
zone in tzdata's `zone.tab` (Asia/Shanghai → CN, Europe/London → GB, America/New_York → US):

- Spring Festival, Dragon Boat Festival, Mid-Autumn Festival: customers writing Chinese
  (locale `zh…`), wherever they live;
- Christmas Day: customers writing English (locale `en…`) in a GB, IE, US, CA, AU or NZ zone.

A festival that the calendar does not list for a year (the CN calendar starts in 2001) is simply
not greeted that year.
"""

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

import holidays


@dataclass(frozen=True)
class Festival:
    key: str  # in dedupe keys: festival:<key>:<customer>:<year>
    country: str  # the `holidays` calendar that dates it
    holiday: str  # its exact name there (English names)
    languages: frozenset[str]  # the customer's language (locale before "_") must be one of these
    regions: frozenset[str]  # ... and their zone's country one of these (empty: anywhere)
    names: dict[str, str]  # the name a greeting uses, by customer locale

    def name_for(self, locale: str) -> str:
        return self.names.get(locale) or self.names["en"]


GREATER_CHINA_LANGUAGES = frozenset({"zh"})
CHRISTMAS_REGIONS = frozenset({"GB", "IE", "US", "CA", "AU", "NZ"})

FESTIVALS: tuple[Festival, ...] = (
    Festival(
        "spring_festival",
        "CN",
        "Chinese New Year (Spring Festival)",
        GREATER_CHINA_LANGUAGES,
        frozenset(),
        {"en": "the Spring Festival", "zh_Hans": "春节"},
    ),
    Festival(
        "dragon_boat",
        "CN",
        "Dragon Boat Festival",
        GREATER_CHINA_LANGUAGES,
        frozenset(),
        {"en": "the Dragon Boat Festival", "zh_Hans": "端午节"},
    ),
    Festival(
        "mid_autumn",
        "CN",
        "Mid-Autumn Festival",
        GREATER_CHINA_LANGUAGES,
        frozenset(),
        {"en": "the Mid-Autumn Festival", "zh_Hans": "中秋节"},
    ),
    Festival(
        "christmas",
        "GB",
        "Christmas Day",
        frozenset({"en"}),
        CHRISTMAS_REGIONS,
        {"en": "Christmas", "zh_Hans": "圣诞节"},
    ),
)
CALENDAR_LANGUAGE = {"CN": "en_US"}  # names as spelled above, whatever the package's default


@lru_cache(maxsize=256)
def festival_date(key: str, year: int) -> date | None:
    """The day `key` falls on in `year` (its first day, for the Spring Festival's holidays)."""
    festival = next(f for f in FESTIVALS if f.key == key)
    calendar = holidays.country_holidays(
        festival.country, years=year, language=CALENDAR_LANGUAGE.get(festival.country)
    )
    days = calendar.get_named(festival.holiday, lookup="exact")
    return min(days) if days else None


def festivals_on(day: date) -> list[Festival]:
    return [f for f in FESTIVALS if festival_date(f.key, day.year) == day]


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """IANA zone → ISO country, from the zone.tab the tzdata package ships."""
    table = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    found = {}
    for line in table.splitlines():
        if line and not line.startswith("#"):
            country, _coordinates, zone, *_ = line.split("\t")
            found[zone] = country
    return found


def region_of(zone: str) -> str | None:
    return _zone_countries().get(zone)


def zones_in(regions: frozenset[str]) -> list[str]:
    return sorted(zone for zone, country in _zone_countries().items() if country in regions)


def language_of(locale: str) -> str:
    return locale.split("_", 1)[0].lower()


def fits(festival: Festival, locale: str, zone: str) -> bool:
    if language_of(locale) not in festival.languages:
        return False
    return not festival.regions or region_of(zone) in festival.regions
