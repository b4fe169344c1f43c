"""Generic word lists for drafting profiles: stop words, non-names, titles, a country gazetteer,
and the cue words around a name that say whether it is a place, a target or an actor."""

import re

from ...text import fold

# --- generic word lists ------------------------------------------------------------------------

STOPWORDS = frozenset("""
a about above after again against all almost also although am among an and another any are
around as at be because been before being below between both but by can could did do does doing
down during each either else even ever every few for from further had has have having he her here
hers herself him himself his how however i if in into is it its itself just least less like
made make many may me might more most much must my myself near neither no nor not now of off
often on once one only onto or other others our ours out over own per perhaps quite rather re
said same say says she should since so some still such than that the their theirs them then there
these they this those though through thus to too toward towards under until up upon us very via
was we were what whatever when where whether which while who whom whose why will with within
without would yet you your yours also s t mr mrs ms new told according amid across including
""".split())

# Capitalised words that start sentences or name times, titles and outlets, not things.
NOT_NAMES = frozenset(fold(w) for w in """
The This That These Those A An It Its He She They We I You His Her Their Our There Here But And
Or If When While After Before As At In On Of For From To By With Without Since During Under Over
According However Meanwhile Also Earlier Later Yesterday Today Tonight Last Next Early Late
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
July August September October November December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
Mr Mrs Ms Dr President Prime Minister Secretary General Gen Col Lt Sgt Capt Maj Adm Sen Senator
Rep Gov Governor Mayor King Prince Sheikh Chancellor Spokesman Spokeswoman Spokesperson Chief
Reuters AFP AP CNN BBC NBC CBS ABC Fox Guardian Times Post News Press Associated Agency Telegram
Twitter Facebook Instagram YouTube TikTok Google Apple Please Read More Sign Subscribe Cookie
Cookies Privacy Advertisement Share Copyright Breaking Live Video Photo Image Getty Images Watch
""".split())

TITLES = frozenset(fold(w) for w in """
President Prime Minister Secretary Gen General Col Colonel Lt Sgt Capt Captain Maj Major Adm
Admiral Sen Senator Rep Gov Governor Mayor King Prince Sheikh Chancellor spokesman spokeswoman
spokesperson Mr Mrs Ms Dr commander leader chief ambassador envoy minister official
""".split())

# Countries and their adjectives: a generic gazetteer of where things happen.
COUNTRIES = """Afghanistan:Afghan Albania:Albanian Algeria:Algerian Angola:Angolan Argentina:Argentine
Armenia:Armenian Australia:Australian Austria:Austrian Azerbaijan:Azerbaijani Bahrain:Bahraini
Bangladesh:Bangladeshi Belarus:Belarusian Belgium:Belgian Bolivia:Bolivian Bosnia:Bosnian
Brazil:Brazilian Bulgaria:Bulgarian Burkina_Faso:Burkinabe Cambodia:Cambodian Cameroon:Cameroonian
Canada:Canadian Chad:Chadian Chile:Chilean China:Chinese Colombia:Colombian Congo:Congolese
Croatia:Croatian Cuba:Cuban Cyprus:Cypriot Czech_Republic:Czech Denmark:Danish Djibouti:Djiboutian
Ecuador:Ecuadorian Egypt:Egyptian Eritrea:Eritrean Estonia:Estonian Ethiopia:Ethiopian
Finland:Finnish France:French Georgia:Georgian Germany:German Ghana:Ghanaian Greece:Greek
Guatemala:Guatemalan Haiti:Haitian Honduras:Honduran Hungary:Hungarian India:Indian
Indonesia:Indonesian Iran:Iranian Iraq:Iraqi Ireland:Irish Israel:Israeli Italy:Italian
Japan:Japanese Jordan:Jordanian Kazakhstan:Kazakh Kenya:Kenyan Kosovo:Kosovar Kuwait:Kuwaiti
Kyrgyzstan:Kyrgyz Latvia:Latvian Lebanon:Lebanese Libya:Libyan Lithuania:Lithuanian
Malaysia:Malaysian Mali:Malian Mexico:Mexican Moldova:Moldovan Mongolia:Mongolian
Morocco:Moroccan Mozambique:Mozambican Myanmar:Burmese Nepal:Nepalese Netherlands:Dutch
New_Zealand:New_Zealander Nicaragua:Nicaraguan Niger:Nigerien Nigeria:Nigerian North_Korea:North_Korean
Norway:Norwegian Oman:Omani Pakistan:Pakistani Palestine:Palestinian Panama:Panamanian Peru:Peruvian
Philippines:Filipino Poland:Polish Portugal:Portuguese Qatar:Qatari Romania:Romanian Russia:Russian
Rwanda:Rwandan Saudi_Arabia:Saudi Senegal:Senegalese Serbia:Serbian Slovakia:Slovak
Somalia:Somali South_Africa:South_African South_Korea:South_Korean South_Sudan:South_Sudanese
Spain:Spanish Sri_Lanka:Sri_Lankan Sudan:Sudanese Sweden:Swedish Switzerland:Swiss Syria:Syrian
Taiwan:Taiwanese Tajikistan:Tajik Tanzania:Tanzanian Thailand:Thai Tunisia:Tunisian Turkey:Turkish
Turkmenistan:Turkmen Uganda:Ugandan Ukraine:Ukrainian United_Arab_Emirates:Emirati
United_Kingdom:British Uruguay:Uruguayan Uzbekistan:Uzbek Venezuela:Venezuelan Vietnam:Vietnamese
Yemen:Yemeni Zambia:Zambian Zimbabwe:Zimbabwean United_States:American US:American"""
_COUNTRY_OF: dict[str, str] = {}
for _pair in COUNTRIES.split():
    _country, _adjective = (part.replace("_", " ") for part in _pair.split(":"))
    for _spelling in (_country, _adjective, _adjective + "s"):
        _COUNTRY_OF[fold(_spelling)] = _country
REGIONS = frozenset(fold(w) for w in ("Middle East", "Europe", "Africa", "Asia", "Latin America",
                                      "Gulf", "Persian Gulf", "Balkans", "Caucasus", "Sahel",
                                      "Levant", "Kurdistan", "Gaza", "West Bank", "Crimea"))

# Words around a name that say what it is.
PLACE_BEFORE = frozenset("in near at from across outside inside into to toward towards throughout "
                         "northern southern eastern western northeastern northwestern southeastern "
                         "southwestern central province city town village region district "
                         "capital border".split())
PLACE_WORDS = frozenset("province city town village region district governorate county state "
                        "border river valley mountains mountain island islands sea lake bay coast "
                        "desert peninsula area neighbourhood neighborhood suburb".split())
TARGET_HEADS = frozenset("base bases airbase airbases embassy embassies consulate airport airports "
                         "compound camp camps facility facilities garrison outpost installation "
                         "installations port station barracks headquarters mission field fields "
                         "plant refinery pipeline bridge tower hospital school convoy patrol "
                         "checkpoint office offices".split())
PERSONNEL_HEADS = frozenset("forces troops soldiers personnel servicemen service members "
                            "marines sailors airmen contractors diplomats staff workers "
                            "civilians residents".split())
ACTOR_CUES = frozenset("militia militias group groups brigade brigades faction factions forces "
                       "movement army guard guards party front organisation organization rebels "
                       "fighters insurgents militants resistance network cell gunmen backed "
                       "aligned linked affiliated allied sponsored claimed claims".split())
ATTACK_PREPOSITIONS = frozenset("on against at targeting targeted toward towards hit struck "
                                "near".split())
EVENT_CUES = frozenset("attack strike fire blast explosion bomb shoot shooting clash raid kill "
                       "wound injure storm burn flood quake earthquake collapse crash evacuate "
                       "hit launch target intercept shell spread destroy damage".split())
_BACKED = frozenset("backed aligned linked affiliated allied sponsored supported funded".split())

_DOTTED = re.compile(r"\b([A-Z])\.([A-Z])\.(?:([A-Z])\.)?")
_CAPWORD = r"(?:(?:al|el|ad|an|as|ash|az|ez|at)[-\u2010\u2011])?[A-Z][A-Za-z'\u2019]*(?:-[A-Za-z][A-Za-z'\u2019]*)*"
_NAME = re.compile(rf"{_CAPWORD}(?:\s+(?:(?:of|bin|ibn|de|del|du|la|le|van|von|the)\s+)?{_CAPWORD})*"
                   r"(?:\s+\d{1,3}\b)?")
