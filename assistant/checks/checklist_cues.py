"""The words the "Ready to send?" checklist reads a prior-authorization letter by: measurements, daily activities
and their limits, treatment tried before and its result, a clinician's skill, and what happens if the request is
denied."""

from __future__ import annotations

import re

from assistant.checks.facts import MONTH, NUM
from assistant.checks.vocab import MEDICATION_LOOKUP

_I = re.IGNORECASE
N = rf"(?<![\w.]){NUM}"
DATE = (rf"(?:(?<![\w/])\d{{1,2}}/\d{{1,2}}/(?:\d{{4}}|\d{{2}})(?![\w/])|(?<![\w-])\d{{4}}-\d\d-\d\d(?!\w)"
        rf"|\b{MONTH}\.?\s\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s\d{{4}})?\b|\b{MONTH}\.?,?\s\d{{4}}\b"
        rf"|\b\d{{1,2}}\s{MONTH}\s\d{{4}}\b)")


def _alt(words: str) -> str:  # a word list as a regex matching any one: "*" is any ending, "_" a space
    return r"\b(?:" + "|".join(w.replace("*", r"\w*").replace("_", r"\s+") for w in words.split()) + r")\b"


_TESTS = _alt(r"""ODI Oswestry NDI LEFS QuickDASH DASH FOTO PSFS KOOS WOMAC Berg BBS TUG Timed_Up_and_Go DGI FGA Tinetti
6MWT 6-?minute_walk 10MWT 10-?meter_walk gait_speed FIM PHQ-?9 PHQ-?A GAD-?7 PCL-?5 BDI(?:-?II)? BAI Y-?BOCS SCARED
Vanderbilt CGI DASS(?:-?21)? AUDIT CELF(?:-?\d)? PLS(?:-?\d)? GFTA(?:-?\d)? PPVT EOWPVT WAB Western_Aphasia_Battery
aphasia_quotient BDAE Boston_Naming FOIS EAT-?10 MBSImP MoCA SLUMS MMSE BOT-?2 Beery VMI PDMS(?:-?2)? Peabody Vineland
PEDI COPM Sensory_Profile SSI grip pinch MMT dynamometer 9-?hole_peg nine-?hole_peg Box_and_Blocks""")
_MEASURE = re.compile(
    rf"{_TESTS}[^.;\n]{{0,40}}?(?<![\w-])\d|{N}\s?(?:%|percent|\u00b0|degrees?|deg\b|lbs?\b|pounds?|kg\b|"
    r"kilograms?|seconds?|secs?\b|s\b|feet|ft\b|meters?|metres?|inches|cm\b|mph|m/s|wpm|words per minute)"
    rf"|{N}\s?(?:/|out of)\s?(?:10|ten)\b(?!/)|(?<![\d/])\d{{1,3}}[+-]?\s?/\s?\d{{1,3}}(?![\d/])|\b\d+\s(?:of|out of)\s\d+\b"
    r"|\b(?:score[sd]?|scoring|rated|standard score|T-score|raw score|quotient|accuracy|intelligibility)\b"
    rf"[^.;\n]{{0,20}}?{N}|{N}(?:st|nd|rd|th)\s+percentile"
    rf"|\b(?:toleran\w*|tolerat\w*|sit\w*|stand\w*|walk\w*)\b[^.;\n]{{0,30}}?{N}\s?(?:minutes?|mins?\b)", _I)
_ACTIVITY = _alt("""walk* ambulat* stairs? steps curbs? dress* bath* shower* groom* toilet* hygiene self-care lift*
carry* reach* overhead bend* kneel* squat* driv* sleep* sit sits sitting stand* asleep transfers? work* job duties
employment school class* homework chores housework household cook* meals? eat* feed* swallow* drink* typing writ*
handwriting grasp* hold* jars? button* shopping errands play* recess commun* speak* talk* conversation* read* social*
friends relationships? parenting childcare care_for community i?adls? daily_activities daily_living""")
_LIMIT = _alt(r"""unable cannot can't can_not could_not couldn't not_able inability difficult* limit* restrict* impair*
unsafe trouble struggl* (?:requires?|needs?|needing)\s+(?:\w+\s+)?(?:assist\w*|help|cues|supervision) dependen* avoid*
miss* stopped no_longer only\s+(?:able|tolerat\w*|for|\d) toleran* interfer* prevent* keeps?_(?:him|her|them)_from
(?:max|mod|min)\w*\s+assist\w* painful pain_(?:with|when|during) reduced decreased poor disrupt* affect*
impact*""")
_ACTIVITIES, _LIMITS = re.compile(_ACTIVITY, _I), re.compile(_LIMIT, _I)  # both in one sentence
_TREATED = re.compile(_alt(r"""physical_therapy occupational_therapy speech(?:-language)?_therapy therapy PT OT
treatment home_exercises? HEP exercises? stretching medications? meds injections? steroids? cortisone NSAIDs?
chiropractic massage acupuncture dry_needling counsel+ing psychotherapy CBT DBT EMDR sessions visits brac(?:e|ing)
splint* orthotics? orthos[ie]s straps? taping rest ice heat surgery arthroplasty TENS conservative_care antidepressants?
SSRIs? hospitali[sz]ation inpatient intensive_outpatient IOP early_intervention school-based IEP support_group cane
walker wheelchair devices? equipment prolonged_exposure exposure_therapy """
                           + " ".join(sorted(MEDICATION_LOOKUP, key=len, reverse=True))) + r"|\b\d+(?:\.\d+)?\s?mg\b", _I)
_BEFORE = re.compile(_alt(r"""prior(?!\s+auth) previous* past tried finished used was_on gave brought helped did_not
didn't trials? attempted completed received underwent undergone had has_had started began took taking has_been
was_(?:treated|prescribed|seen|referred|given|started) failed despite since ago in_20\d\d to_date so_far already
last_(?:year|month|spring|summer|fall|winter) attended participated initial_authorization saw sent_home prescribed was_given gave_(?:her|him|them) did_the
in_(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"""), _I)
_RESULT = re.compile(_alt("""improv* relief reliev* help* benefit* no_change unchanged plateau* progress* gains? wors*
persist* fail* ineffective not_effective did_not didn't without minimal partial* resolved reduc* decreas* increas*
better continu* still remain* respon* recurr* returned despite results? success* effective now met achieved enough""")
                     + r"|\bfrom\s+\d\S*(?:\s+\S+)?\s+to\s+\d"  # "from 14 lb to 28 lb"
                     r"|\bat\s+(?:eval\w*|intake|baseline)\b[^.;]{0,40}\b(?:now|at)\b", _I)  # "52 at intake, 41 at ..."
_TIMEFRAME = re.compile(rf"{N}\s*(?:-|to)?\s*(?:\d+\s*)?-?\s*(?:weeks?|wks?|months?|mos?|days?|sessions?|visits?)\b"
                        rf"|\b(?:by|before|on or before)\s+(?:{DATE}|(?:week|visit|session|month)\s+\d+)"
                        r"|\bby (?:the )?(?:end of (?:the )?(?:authorization|certification|treatment|plan of care|"
                        r"episode|school year|semester|period)|discharge|re-?evaluation)\b"
                        r"|\b(?:for|during|in|within|by the end of) (?:this|the) (?:\w+ ){0,2}?period\b", _I)
# Numbers in a goal that are no target: test names (PHQ-9), list numbers, goal numbers, dates.
_NOT_TARGET = re.compile(rf"\b[A-Za-z]+-\d+\b|\b\d+MWT\b|^[\W\d]{{0,4}}|\b(?:goal|STG|LTG)\s*#?\d+|\(\d+\)|{DATE}", _I)
_CLINICIAN = (r"(?:therapist|clinician|pathologist|psychologist|counselor|social worker|SLP|OTR?|PT|DPT|LCSW"
              r"|LPC|psychotherapist)")
_SKILLED = re.compile(
    r"\bskilled\b(?!\s+nursing)|\bexpertise\b|\b(?:licensed|certified|credentialed|trained|qualified)\s+(?:[\w-]+\s+)"
    r"{0,3}?(?:therapist|clinician|pathologist|professional|psychologist|counselor|social worker|provider|practitioner)"
    r"|\bclinical (?:judgment|judgement|decision[- ]making|reasoning|expertise)|\bcannot be (?:\w+ )?(?:performed|done|"
    r"carried out|provided|delivered|managed|completed|taught|progressed)\s+(?:by|without|independently|at home|alone)"
    r"|\b(?:specialized|specialised|professional)\s+(?:training|treatment|intervention|techniques?|care|guidance)"
    r"|\bskills? of (?:an? |the )?(?:[\w-]+\s+){0,3}?(?:therapist|clinician|pathologist|psychologist|professional)"
    rf"|{_CLINICIAN}\s+(?:who is\s+)?(?:trained|licensed|certified|specialized|specialised|experienced)\b"
    rf"|\b(?:performed|progressed|provided|delivered|supervised|done|monitored|guided|directed|adjusted)\s+(?:and \w+\s+)?by"
    rf"\s+an?\s+(?:[\w-]+\s+){{0,3}}?{_CLINICIAN}|{_CLINICIAN}\s+(?:must|needs? to|has to|is (?:needed|required) to|who can)"
    r"\s+(?:\w+\s+)?(?:judge|interpret|assess|grade|adjust|progress|choose|select|monitor|evaluate|analy[sz]e|modify"
    r"|adapt|design|build|tailor|titrate|read|recogni[sz]e|identify|decide)\b|\bnot something (?:\w+\s+){0,3}?can"
    r"|\bcannot be (?:handed|turned) over\b"
    rf"|\b(?:needs?|requires?) an? (?:[\w-]+\s+){{0,3}}?{_CLINICIAN}\s+(?:to|who)\b|\b(?:why|reasons?) (?:this|the|it|therapy|care"
    rf"|treatment|she|he|they) (?:\w+ ){{0,2}}?(?:needs?|requires?) an? (?:[\w-]+\s+){{0,2}}?{_CLINICIAN}", _I)
_CARE = r"(?:treatment|therapy|services|care|intervention|sessions|visits|authorization|coverage|PT|OT|rehab\w*)"
_IF_DENIED = re.compile(  # "without therapy", "if this request is denied", "a delay in care", "left untreated"
    rf"\bwithout\s+(?:[\w-]+\s+){{0,3}}?(?:{_CARE}|counsel+ing|psychotherapy|support)\b|\bif\s+(?:[\w-]+\s+){{0,6}}?"
    r"(?:denied|not (?:approved|authorized|covered|provided|continued|treated|received)|discontinued|stop(?:s|ped)|ends?"
    r"|ended|ceases?|delayed|interrupted|cut off)"
    rf"|\b(?:denial|delay|interruption|discontinuation|lapse|gap|loss|absence|lack)\s+(?:of|in)\s+(?:[\w-]+\s+){{0,2}}?"
    rf"{_CARE}|\babsent\s+(?:\w+\s+)?{_CARE}|\buntreated\b|\bdenying (?:this|the|these)\b|\bfailure to "
    r"(?:authorize|approve|treat|provide)", _I)
_HARM = re.compile(_alt("""falls? falling surg* hospitali* emergency readmi* declin* regress* deteriorat* wors* los[es]
losing loss job employment injur* chronic* disabilit* permanent* institution* placement nursing_(?:home|facility)
higher_level_of_care relaps* decompensat* suicid* self-harm harm aspiration pneumonia dependen* contracture* fracture*
crisis risks?"""), _I)
_PREDICT = re.compile(r"\b(?:likely|unlikely|will|would|may|might|could|risks?|expect\w*|probabl\w*|lead to|result in)\b", _I)
