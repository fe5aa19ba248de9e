"""Word lists for the grounding check: number words, units, medications,
titles and the stop-list of capitalised words that are not people's names.

Data only; no logic beyond building lookup tables.
"""

from __future__ import annotations

NUMBER_WORDS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12,
}
# In a draft these are too common in plain prose ("no one", "one of") to count as facts.
QUIET_NUMBER_WORDS = {"zero", "one", "dozen"}
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
UNITS_1_9 = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# unit spelling (lower case) -> (category, canonical unit, factor to the canonical unit)
UNITS: dict[str, tuple[str, str, float]] = {}


def _units(category: str, canonical: str, factor: float, *spellings: str) -> None:
    for spelling in spellings:
        UNITS[spelling] = (category, canonical, factor)


_units("duration", "s", 1, "sec", "secs", "second", "seconds")
_units("duration", "s", 60, "min", "mins", "minute", "minutes")
_units("duration", "s", 3600, "h", "hr", "hrs", "hour", "hours")
_units("duration", "d", 1, "day", "days")
_units("duration", "d", 7, "wk", "wks", "week", "weeks")
_units("duration", "mo", 1, "mo", "mos", "month", "months")
_units("duration", "yr", 1, "yr", "yrs", "year", "years", "yo", "y/o", "year old", "years old")
_units("measurement", "lb", 1, "lb", "lbs", "pound", "pounds")
_units("measurement", "kg", 1, "kg", "kgs", "kilogram", "kilograms")
_units("measurement", "oz", 1, "oz", "ounce", "ounces")
_units("measurement", "in", 1, "inch", "inches")
_units("measurement", "in", 12, "ft", "feet", "foot")
_units("measurement", "cm", 1, "cm", "centimeter", "centimeters", "centimetre", "centimetres")
_units("measurement", "cm", 0.1, "mm", "millimeter", "millimeters", "millimetre", "millimetres")
_units("measurement", "cm", 100, "meter", "meters", "metre", "metres")
_units("measurement", "km", 1, "km", "kilometer", "kilometers", "kilometre", "kilometres")
_units("measurement", "mi", 1, "mile", "miles")
_units("measurement", "deg", 1, "deg", "degree", "degrees", "°")
_units("measurement", "mmhg", 1, "mmhg", "mm hg")
_units("measurement", "bpm", 1, "bpm", "beats per minute")
_units("measurement", "mph", 1, "mph")
_units("dose", "mg", 1, "mg", "milligram", "milligrams")
_units("dose", "mcg", 1, "mcg", "μg", "microgram", "micrograms")
_units("dose", "g", 1, "g", "gram", "grams")
_units("dose", "ml", 1, "ml", "milliliter", "milliliters", "millilitre", "millilitres", "cc")
_units("dose", "iu", 1, "iu")
_units("dose", "meq", 1, "meq")

# Longest first, so "mm hg" wins over "mm" and "minutes" over "min".
UNIT_PATTERN = "|".join(
    sorted((u.replace("/", r"\/").replace(" ", r"\s").replace("°", "°") for u in UNITS), key=len, reverse=True)
)

# generic name -> brand names (all lower case). Common behavioural-health and pain medicines.
MEDICATIONS: dict[str, tuple[str, ...]] = {
    "sertraline": ("zoloft",), "fluoxetine": ("prozac",), "escitalopram": ("lexapro",),
    "citalopram": ("celexa",), "paroxetine": ("paxil",), "fluvoxamine": ("luvox",),
    "venlafaxine": ("effexor",), "desvenlafaxine": ("pristiq",), "duloxetine": ("cymbalta",),
    "bupropion": ("wellbutrin",), "mirtazapine": ("remeron",), "trazodone": ("desyrel",),
    "vortioxetine": ("trintellix",), "vilazodone": ("viibryd",), "amitriptyline": ("elavil",),
    "nortriptyline": ("pamelor",), "imipramine": ("tofranil",), "alprazolam": ("xanax",),
    "lorazepam": ("ativan",), "clonazepam": ("klonopin",), "diazepam": ("valium",),
    "buspirone": ("buspar",), "hydroxyzine": ("vistaril", "atarax"), "propranolol": ("inderal",),
    "prazosin": ("minipress",), "methylphenidate": ("ritalin", "concerta"),
    "amphetamine": ("adderall",), "lisdexamfetamine": ("vyvanse",),
    "dexmethylphenidate": ("focalin",), "atomoxetine": ("strattera",), "guanfacine": ("intuniv",),
    "clonidine": ("kapvay",), "lithium": (), "lamotrigine": ("lamictal",),
    "divalproex": ("depakote", "valproate", "valproic"), "carbamazepine": ("tegretol",),
    "oxcarbazepine": ("trileptal",), "topiramate": ("topamax",), "quetiapine": ("seroquel",),
    "aripiprazole": ("abilify",), "risperidone": ("risperdal",), "olanzapine": ("zyprexa",),
    "ziprasidone": ("geodon",), "lurasidone": ("latuda",), "haloperidol": ("haldol",),
    "clozapine": ("clozaril",), "brexpiprazole": ("rexulti",), "cariprazine": ("vraylar",),
    "paliperidone": ("invega",), "zolpidem": ("ambien",), "eszopiclone": ("lunesta",),
    "melatonin": (), "naltrexone": ("vivitrol",), "buprenorphine": ("suboxone", "subutex"),
    "methadone": (), "disulfiram": ("antabuse",), "acamprosate": (), "varenicline": ("chantix",),
    "ibuprofen": ("advil", "motrin"), "naproxen": ("aleve", "naprosyn"),
    "acetaminophen": ("tylenol", "paracetamol"), "aspirin": (), "meloxicam": ("mobic",),
    "celecoxib": ("celebrex",), "diclofenac": ("voltaren",), "gabapentin": ("neurontin",),
    "pregabalin": ("lyrica",), "cyclobenzaprine": ("flexeril",), "tizanidine": ("zanaflex",),
    "baclofen": ("lioresal",), "methocarbamol": ("robaxin",), "tramadol": ("ultram",),
    "oxycodone": ("oxycontin", "percocet"), "hydrocodone": ("norco", "vicodin"),
    "morphine": (), "codeine": (), "lidocaine": ("lidoderm",), "prednisone": (),
    "onabotulinumtoxina": ("botox",), "donepezil": ("aricept",), "memantine": ("namenda",),
    "levetiracetam": ("keppra",), "levothyroxine": ("synthroid",), "metformin": (),
}
# any spelling -> generic name
MEDICATION_LOOKUP: dict[str, str] = {}
for _generic, _brands in MEDICATIONS.items():
    MEDICATION_LOOKUP[_generic] = _generic
    for _brand in _brands:
        MEDICATION_LOOKUP[_brand] = _generic

TITLES = {"dr", "mr", "mrs", "ms", "mx", "miss", "prof", "doctor", "professor"}

# Numbers right after these words number the document itself ("Goal 2", "Page 1").
NUMBERING_WORDS = {"goal", "goals", "step", "item", "section", "part", "page", "problem", "question", "no", "#"}

# Capitalised words that start no person's name in a clinical note or letter.
NOT_NAMES = set(
    """
    a an the this that these those there their they them he she his her hers him it its we our you your i
    my me who what when where why how which and or but if then so as at by for from in into of on to up
    with without after before during since until while today tomorrow yesterday tonight next last
    per re dear sincerely regards respectfully thank thanks please note notes
    monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december jan feb mar apr jun jul aug sep sept oct nov dec
    subjective objective assessment plan data behavior behaviour intervention interventions response
    narrative summary history diagnosis diagnoses goal goals progress session sessions visit visits
    treatment therapy therapist therapeutic client patient patients pt caregiver family mother father
    parent parents provider clinician physician doctor nurse staff team home school work office clinic
    practice hospital center centre department unit services service request requested requesting
    authorization prior medical necessity necessary insurance payer plan member policy claim group
    physical occupational speech language pathology behavioral behavioural health mental clinical
    cognitive behavioural dialectical motivational interviewing exposure functional manual
    exercise exercises program programme strength balance gait range motion pain mobility activities
    daily living adl adls fine gross motor sensory processing feeding swallowing voice fluency
    articulation anxiety depression disorder major generalized generalised panic social post traumatic
    stress trauma attention deficit hyperactivity autism spectrum bipolar chronic acute low back neck
    shoulder knee hip ankle wrist hand elbow left right bilateral upper lower extremity
    continue continued continues discussed reviewed reported reports reported noted observed completed
    will would should could can may might must has have had is are was were be been being do does did
    not no yes none all any each every some most more less other another both either neither
    initial evaluation re-evaluation reevaluation discharge follow followup follow-up update updated
    new old north south east west central general united states state county city street avenue road
    suite blue cross shield health care healthcare medicare medicaid tricare aetna cigna humana
    kaiser anthem optum united life mutual national american association
    ms-word word pdf email phone fax npi dob id icd cpt hcpcs soap dap birp pt ot slp lcsw lpc lmft
    psyd phd md do dpt otr ccc ccc-slp rn np pa licensed certified board
    mild moderate severe significant improved improving improvement decreased increased stable
    good fair poor well better worse within normal limits wnl independent independently
    minimal maximal max min mod assist assistance supervision standby contact guard verbal cues
    short long term objective objectives measurable recommend recommended recommendation
    recommendations signature signed date time name address total
    scale scales inventory questionnaire test tests testing index measure measures battery screen screening
    checklist rating ratings score scores developmental timed independence status exam examination mini
    utilization review management team department committee manager coordinator director office
    company corporation inc llc university college district rehabilitation rehab orthopedic orthopedics
    sports pediatric pediatrics wellness counseling psychiatry psychiatric psychology neurology
    community regional memorial valley county general associates partners group network
    however additionally furthermore overall currently previously also client's patient's
    practitioner assistant aide counselor social worker case speech-language
    cbt dbt emdr act mse phq gad adhd ptsd ocd asd tbi cva copd acl mva
    """.split()
)
