"""Reading a payer's denial letter: each reason given (one of the six ways payers deny, or "other"), the
reference number, the letter's date, the dates of service and the appeal deadline; rules, no model, and the
letter's own sentences kept. Reasons: after a "Reason for denial" heading, else after "Dear ..." where a
sentence also says what is lacking; up to the appeal rights; a generic "not medically necessary" only where
nothing more specific is named. Deadline: a date, or days counted from the letter's date even where it counts
from receipt (the earliest day, the safe side). How fast the plan decides (72 hours, 7 days after we get your
appeal), peer-to-peer talks and benefits during an appeal are no deadline.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import asdict, dataclass

from assistant.errors import InputError

MAX_CHARS = 200_000
CATEGORIES = ("medical_necessity", "documentation", "prior_care", "coding", "function_goals", "administrative", "other")
CATEGORY_WORDS = {
    "medical_necessity": "Medical necessity not shown", "documentation": "Documentation incomplete",
    "prior_care": "Prior or conservative care not documented", "coding": "Codes do not match or are not valid",
    "function_goals": "No functional impact or measurable goals", "other": "Other reason",
    "administrative": "Administrative (eligibility, form, timing, network, referral)"}


@dataclass(frozen=True)
class DenialReason:
    category: str  # one of CATEGORIES
    text: str  # the letter's own sentence(s) for this reason, whitespace normalised


@dataclass(frozen=True)
class Denial:
    reasons: list[DenialReason]
    reference: str  # the case / reference / authorization / claim number, "" if none
    letter_date: str  # ISO date, "" if none found
    service_dates: list[str]  # ISO dates given for the service or the request
    deadline: str  # ISO date by which to appeal, "" if unknown
    deadline_words: str  # the letter's own words about the deadline

    def as_dict(self) -> dict:
        return asdict(self)  # {"reasons": [{"category", "text"}], "reference", "letter_date", ...}


# What each reason is about. A documentation cue names a document (<DOC>) and says it is missing, unsigned or
# old (<GONE>); "[^.;]" stays within the sentence ("G31.84" holds no sentence end).
_DOC = (r"(?:(?:progress|treatment|daily|visit|session|clinical|office|therapy|physician|doctor'?s?|chart)\s+notes?"
        r"|notes?|(?:progress|status|discharge)\s+reports?|(?:medical\s+)?records|(?:test|testing|assessment"
        r"|audiology)\s+(?:results|scores|data)|scores|results|(?:re-?)?evaluations?|plan of care|treatment plan"
        r"|(?:physician|doctor|surgeon|prescriber)(?:'s)?\s+(?:orders?|prescriptions?|certification)|prescriptions?"
        r"|orders?|signatures?(?: page)?|stud(?:y|ies)|imaging|x-rays?|mri|reports?|(?:re)?certification|pages?)")
_GONE = (r"(?:missing|(?:not|never)\s+(?:been\s+)?(?:received|included|provided|submitted|sent|attached|signed|dated"
         r"|legible|current|complete|available|found|enclosed|on file)|unsigned|undated|illegible|incomplete|outdated"
         r"|out of date|expired|stale|too old|(?:more than|over) (?:a|one|\d+) (?:years?|months?|weeks?|days?) old"
         r"|older than)")
_MON = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"


def _rx(*alternatives: str) -> re.Pattern[str]:
    pattern = "|".join(alternatives).replace("<DOC>", _DOC).replace("<GONE>", _GONE).replace("<MON>", _MON)
    return re.compile(pattern.replace("[^.;]", r"(?:[^.;]|\.(?=\w))"), re.I)


_STRONG = {
    "coding": _rx(r"\b(?:cpt|hcpcs|icd(?:-?10)?(?:-?cm)?|procedure|diagnos[ie]s|diagnostic|billing|billed|z"
        r"|revenue)\s+codes?\b[^.;]{0,80}?\b(?:invalid|not valid|no longer (?:valid|active|in use|billable)|replaced"
        r"|deleted|outdated|expired|retired|incorrect|wrong|truncated|unspecified|inconsistent|mismatch\w*"
        r"|not (?:specific|billable|payable|recognized|appropriate|consistent|compatible|correct|accepted|allowed)"
        r"|(?:does|do|did) not (?:match|support|correspond))|\b(?:invalid|deleted|outdated|expired|retired|incorrect"
        r"|wrong|truncated|unspecified|mismatched|non-?specific|unlisted|not (?:a )?(?:valid|billable|payable"
        r"|specific)|(?:a )?(?:current|valid|correct)) (?:[\w-]+\s+){0,3}?(?:codes?|diagnos[ie]s|cpt|icd)\b"
        r"|\bdiagnos[ie]s\b[^.;]{0,80}?\b(?:does|did|do)\s+not\s+(?:support|match|correspond|justify|align)|\b(?:does"
        r"|do|did) not (?:match|correspond to|agree with) (?:the )?(?:[\w-]+\s+){0,2}?(?:codes?|diagnos[ie]s"
        r"|procedures?|cpt)\b|\b(?:not|in)consistent with the (?:\w+\s+)?(?:diagnosis|procedure|code)"
        r"|\bnot supported by the (?:\w+\s+)?diagnos[ie]s\b|\bmodifiers?\b|\bcoded\b[^.;]{0,40}\bspecific|\b(?:is|are"
        r"|be) (?:coded|billed) (?:as )?[A-Z]?\d{4}|\b(?:coding|code) (?:error|mismatch|conflict)"),
    "documentation": _rx(r"\b<DOC>\b(?:\s+[\w,'()/.-]+){0,9}?\s+(?:(?:is|are|was|were|has"
        r"|have)\s+(?:been\s+)?(?:also\s+)?)?<GONE>|\b(?:no|missing|without|lacks?|lacking|(?:did|do"
        r"|does) not (?:receive|get|have|include)|have not received|never received)\W+(?:[\w'()-]+\s+){0,4}?<DOC>\b"
        r"|\b(?:information|documentation|records?|request|submission|packet|file"
        r"|evaluation)\b[^.;]{0,40}?\b(?:incomplete|not complete)|\bincomplete (?:documentation|records?|information"
        r"|request|submission|clinicals?)\b|\b(?:requested|asked (?:\w+ ){0,3}?for)\s+(?:[\w'-]+\s+){0,4}?(?:"
        r"information|records|documentation|<DOC>)\b|\b(?:need|needs|needed|require|requires)\s+(?:more|additional"
        r"|further|updated|recent)\s+(?:clinical\s+)?(?:information|documentation|records|notes)\b|\bunsigned\b"
        r"|\bnot (?:been )?signed\b|\billegible\b"),
    "prior_care": _rx(r"\b(?:conservative|non-?surgical|non-?operative)\s+(?:care|treatments?|therapy|therapies"
        r"|management|measures|options|approaches)\b|\b(?:prior|previous|past|earlier|recent|initial|first-line"
        r"|first line)\s+(?:course|episode|trial|round|attempt|therapy|therapies|treatments?|care|services"
        r"|interventions?|medications?|counseling|psychotherapy|outpatient|physical therapy|occupational therapy"
        r"|speech therapy|pt|ot|programs?)\b|\bhome exercise\b|\bhep\b|\bstep therapy\b|\b(?:first tried"
        r"|tried (?:\w+ ){0,6}?first)\b|\b(?:trial|course)s?\s+of\s+(?:[\w-]+\s+){0,3}?(?:therapy|treatment"
        r"|medications?|medicines?|exercises?|nsaids?|injections?|bracing|splinting|outpatient|counseling)|\b(?:less"
        r"|lower)[- ](?:intensive|level)\b[^.;]{0,80}?\b(?:tried|attempted|failed|completed|used first)\b|\b(?:tried"
        r"|attempted|failed)\b[^.;]{0,60}?\b(?:less|lower)[- ](?:intensive|level)\b|\bfailed\s+(?:to respond to"
        r"|a trial|conservative|prior|previous|first-line)\b|\b(?:treatments?|therapy|therapies|care"
        r"|medications?) (?:\w+ ){0,3}?(?:tried|provided|received|given|done|used) (?:\w+ ){0,2}?(?:before|previously"
        r"|earlier|in the past)\b|\bhow (?:\w+ ){0,3}?responded\b|\bresponse to (?:prior|previous|earlier|that|this"
        r"|the) (?:treatment|therapy|care)\b"),
    "function_goals": _rx(r"\bmeasurabl[ey]\b|\bbe (?:measured|counted|tracked|quantified)\b|\b(?:objective|specific"
        r"|functional|time-?bound|realistic|attainable|long-term|short-term|treatment)\s+(?:[\w-]+\s+)?goals?\b"
        r"|\b(?:goals?|targets?|objectives)\b(?![^.;]{0,40}?\b(?:been|were|are|is|was) (?:met|achieved"
        r"|reached))[^.;]{0,60}?\b(?:not|no|vague|general|unclear|missing|lack\w*)\b|\b(?:no|not|lack\w*|without"
        r"|missing|vague|unclear)\b[^.;]{0,40}?\b(?:goals?|targets)\b|\bfunctional\s+(?:[\w-]+\s+)?(?:limitations?"
        r"|deficits?|impairments?|impact|status|loss|outcomes?|measures?|baseline|abilit(?:y|ies)|level|need|problems?"
        r"|tasks?)\b|\boutcome (?:measures?|tools?|scales?)\b|\bbaseline\s+(?:data|measures?|measurements?|scores?"
        r"|levels?|status)\b|\bhow (?:[\w'-]+\s+){1,7}?(?:limits?|affects?|affected|impacts?|interferes? with"
        r"|restricts?|prevents?) (?:[\w'-]+\s+){0,4}?(?:daily|function\w*|ability|abilities|walking|work|job|school"
        r"|home|self-care|adls?|participat\w+|activities|life)\b|\b(?:daily (?:life|living|activities)"
        r"|activities of daily living)\b|\b(?:what|how) (?:\w+ ){1,3}(?:will|would) be able to do\b|\bvague\b"
        r"|\bgeneric\b|\bboilerplate\b|\bgeneral (?:statements?|terms|language)\b"),
    "administrative": _rx(r"\b(?:in)?eligib(?:le|ility)\b|\bnot (?:an?\s+)?(?:active|enrolled)\b|\bdis-?enrolled\b"
        r"|\bterminated\b|\bcoverage\s+(?:[\w-]+\s+)?(?:ended|ends|terminated|lapsed|inactive|expired|was not active"
        r"|had ended|has ended)|\bout[- ]of[- ]network\b|\bnon-?(?:participating|contracted|network)\b"
        r"|\boutside (?:of )?(?:the |our |your )?(?:plan'?s? )?network\b|\bnot (?:in|part of"
        r"|within) (?:[\w']+\s+){0,2}?network\b|\bnot (?:contracted|credentialed|participating)\b|\breferrals?\b"
        r"|\b(?:wrong|incorrect|outdated|correct|proper|required|old|\d{4})\s+(?:[\w-]+\s+){0,2}?(?:form|portal|fax"
        r"|address|department|vendor|payer)\b|\bversion of the (?:[\w-]+\s+){0,4}?form\b|\bportal\b|\bby fax\b"
        r"|\b(?:must|should) be (?:submitted|sent|requested|made) (?:through|via|using|on|to)\b|\b(?:untimely"
        r"|not timely|timely (?:filing|submission|notification|request)|late (?:request|submission|notification)"
        r"|retro(?:active|spective)(?:ly)?|past the (?:deadline|filing limit)|filing (?:limit|deadline))\b"
        r"|\b(?:submitted|received|requested|sent|made)\s+(?:\S+\s+){0,4}?(?:late|after (?:the )?(?:services?"
        r"|treatment|care|date of service|start)|after (?:\S+\s+){0,3}?(?:began|started|begun|(?:were|was"
        r"|had been) (?:provided|rendered|given)))\b|\b(?:before|prior to) (?:the )?(?:services?|treatment|care"
        r"|therapy) (?:starts?|begins?|(?:is|are) (?:provided|given))\b|\b(?:visit|benefit|annual|calendar[- ]year"
        r"|yearly|plan[- ]year|lifetime)\s+(?:limit|maximum|max|cap)\b|\b(?:limit|maximum|cap) of \d+\b|\bexhausted\b"
        r"|\bused (?:all|up|\d+)\b|\b(?:covers?|allows?|limited to) (?:up to )?\d+ (?:[\w-]+\s+){0,3}?(?:visits"
        r"|sessions|days|units) (?:each|per|a|every)\b|\bduplicate\b|\bnpi\b"),
    "medical_necessity": _rx(r"\bexpectation\b[^.;]{0,40}?\bimprov|\b(?:not|un)likely to (?:improve|benefit)"
        r"|not expected to (?:improve|benefit|make|result)|\bplateau\w*|\bmaintenance\b|\b(?:stayed"
        r"|remained) (?:the same|unchanged|stable)\b|\bno (?:further |significant |meaningful )?(?:improvement"
        r"|progress)\b|\bnot (?:improving|progressing)\b|\bgoals?\b[^.;]{0,40}?\b(?:been|were|are|is|was) (?:met"
        r"|achieved|reached)\b|\breturned to (?:full|prior|baseline|normal|work)|\bskill(?:ed"
        r"|s)?\b[^.;]{0,40}?\bnot (?:needed|required|necessary)|\b(?:does|do) not (?:require|need) (?:the )?skill"
        r"|\bneed (?:the )?skill(?:s|ed)?\b|\b(?:more|further|additional|continued) (?:therapy|treatment|care|visits"
        r"|services|sessions) (?:is|are) not (?:needed|necessary|required)|\bcustodial\b|\beducational\b"
        r"|\bexperimental\b|\binvestigational\b|\bunproven\b|\bexceeds?\b[^.;]{0,40}?\b(?:guidelines?|criteria|policy"
        r"|recommend\w*|standard|typical|expected|necessary)|\b(?:more|above|beyond|higher|greater) than (?:our|the"
        r"|what) (?:[\w-]+\s+){0,4}?(?:guidelines?|criteria|policy|supports?|recommended|needed|necessary|appropriate)"
        r"|\babove what (?:is|was) (?:recommended|needed|necessary|supported)\b|\bmore (?:visits|sessions|units|hours"
        r"|days) than\b|\b(?:frequency|duration|intensity|number of (?:visits|sessions"
        r"|hours))\b[^.;]{0,60}?\b(?:exceed\w*|more than|too (?:many|much|high|often)|not (?:supported|necessary"
        r"|needed|justified))\b|\bdanger to (?:self|yourself|himself|herself|themselves|others)\b"
        r"|\bcan (?:safely )?be (?:safely )?(?:treated|managed|provided|performed|done|met) (?:at|in|by|with"
        r"|through)\b"),
}
_GENERIC = {
    "medical_necessity": _rx(r"\bmedical(?:ly)?\s+necess\w*|\bnot (?:reasonable and )?necessary\b|\b(?:criteria"
        r"|guidelines?|requirements?|policy)\b[^.;]{0,60}?\b(?:not|n't)\s+(?:been\s+)?(?:met|satisfied)|\b(?:does|do"
        r"|did) not (?:meet|satisfy|fulfil+)\b|\bnot met\b|\bnot supported by\b|\bnot (?:clinically )?(?:appropriate"
        r"|indicated|warranted|justified)\b|\blevel of care\b|\b(?:therapy|treatment|services?|care) (?:is"
        r"|are) not needed\b"),
    "documentation": _rx(r"\b(?:insufficient|inadequate|limited|not enough|not "
        r"sufficient)\s+(?:clinical\s+)?(?:documentation|information|records|evidence)|\b(?:documentation|information"
        r"|records)\b[^.;]{0,40}?\b(?:insufficient|inadequate|not sufficient|not enough)"),
    "other": _rx(r"\bexclu(?:ded|des|sion)\b|\bnot a covered (?:benefit|service)\b|\bnot covered under\b"
        r"|\bnon-?covered\b|\b(?:coverage|contract|plan) (?:does not|doesn't) (?:include|cover)\b|\b(?:denied"
        r"|not approved|cannot be approved|unable to approve)\b[^.;]{0,25}\b(?:because|due to)\b(?! (?:the following"
        r"|these|of the)|\s*:)"),
}
_DEFICIT = _rx(r"\b(?:not|no|never|none|nor|lack\w*|missing|without|absent|insufficient|inadequate|incomplete|unable"
    r"|fail\w*|cannot|unclear|vague|unsigned|undated|illegible|outdated|expired|invalid|deleted|unspecified|truncated"
    r"|exceed\w*|above|den(?:y|ied|ial)|wrong|incorrect|mismatch\w*|older|stale|late|after|before|instead|rather|only"
    r"|must|requires?|required|excluded|ended|terminated|maintenance|plateau\w*|more than|same|already|need(?:s"
    r"|ed)? (?:more|additional|further|current|updated|recent))\b|n't\b")
_SKIP = _rx(r"\b(?:is not|does not mean|doesn't mean|not) (?:a |an )?(?:decision|determination|statement|judgment"
    r"|finding) (?:about|on|of|that|whether)\b|\bcopy of\b|\bfree of charge\b|\btty\b|\bcall (?:us|member)\b")
_FOLLOW = _rx(r"^(?:without (?:this|that|these|those|them|it)|because of (?:this|that)|so|therefore|as a result)\b")
_HEAD = _rx(r"^(?:the\s+)?(?:(?:reasons?|basis|rationale|explanation|grounds|summary)\s+(?:for|of)\s+(?:the\s+|this\s+"
    r"|our\s+|your\s+)?(?:denial|decision|determination|adverse|non-?certification|action|outcome"
    r"|notice)\w*(?:\s+(?:is|are|was|were|includes?))?|(?:denial|decision|determination|clinical"
    r"|medical)\s+(?:reasons?|rationale|basis|explanation))\s*[:.-]?|^(?:reasons?|rationale|why|explanation"
    r"|findings)\s*(?::|$)|^why\s+(?:did\s+|was\s+|is\s+|has\s+)?(?:we|your|the|this)\b[^.?]{0,50}?(?:den\w+"
    r"|not approved|decision|decided)\b[^.?:]{0,20}[?:.]?|\bfor (?:the following|these) reasons?\s*[:.]?$|\b(?:here is"
    r"|here's|this is) why\s*:?$")
# Where the appeal rights begin, the reasons have ended.
_STOP = _rx(r"\b(?:appeal\w*|reconsider\w*|redetermination|fair hearing|grievance|the right to|rights)\b"
    r"|^(?:if you (?:disagree|do not agree|don't agree|think|want|wish|have (?:any )?questions|need)"
    r"|what (?:you can do|if you|to do|happens next)|sincerely|respectfully|regards|important|get help|questions"
    r"|nondiscrimination|language assistance|please (?:call|contact|have|send|submit)|peer[- ]to[- ]peer|a new request"
    r"|to dispute|you may submit)\b")

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DATE = _rx(r"(?<![\w/.-])(?:(?P<a>\d{4}|\d{1,2})(?P<s>[/.-])(?P<b>\d{1,2})(?P=s)(?P<c>\d{4}|\d{1,2})"
    r"|(?P<mn><MON>)\.?\s+(?P<md>\d{1,2})(?:st|nd|rd|th)?(?P<my>(?:\s*,\s*|\s+)\d{4})?)(?![\w/-])")
_LETTER_LABEL = _rx(r"(?:^|\b)(?:date of (?:this |the )?(?:letter|notice|notification|decision|determination)"
    r"|(?:letter|notice|notification|mail(?:ing)?|issue|print|determination|decision|review) date|date (?:mailed|sent"
    r"|issued|printed)|mailed(?: on)?|^date)\s*[:#-]?\s*$")
_SERVICE = _rx(r"\b(?:services?|dos|visits?|treatment|therapy|sessions?|admi(?:ssion|tted|t)|start(?:ing|s)?|begin"
    r"|began|requested|request|received|through|thru|until)\b[^.]{0,30}$|\b(?:from|between)\s+$")
_NOT_SERVICE = _rx(r"\b(?:birth|dob|born|coverage|ended|terminated|eligib\w*|dated|effective|renew\w*|replaced|by"
    r"|later than|before)\b[^.]{0,25}$|\b(?:is|was|are) from\s+$")
_REF = _rx(r"(?P<label>(?:\b(?:prior\s+)?(?:reference|ref|case|authori[sz]ation|auth|pre-?certification|precert"
    r"|certification|tracking|review|determination|notice|episode|um|control|confirmation|request"
    r"|claim)\b[\s/&-]*){1,3})(?P<suffix>(?:number|num|no\.?|nbr|#|id|identifier)?)\s*(?P<sep>[:#]"
    r"|is)?\s*#?(?P<ref>[A-Z0-9][A-Z0-9-]{2,}[A-Z0-9])\b")
_NUMBER_WORDS = {"thirty": 30, "sixty-five": 65, "sixty": 60, "ninety": 90, "one hundred eighty": 180}
_DAYS = _rx(r"\b(?P<n>\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")(?:\s*\(\d{1,3}\))?\)?\s+(?:(?:calendar|business|"
            r"working)\s+)?days?\b")
_ANCHOR = _rx(r"^\W*(?:of|from|after)\s+(?:the\s+)?(?:date\s+(?:of|on|shown|above)\s*)?(?:(?:this|the|our|that)\s+"
    r"|(?:(?:the\s+)?date\s+)?(?:you|your\s+\w+)\s+(?:receive|received|get|got)\s+(?:this|the|our)\s+|(?:receiving"
    r"|receipt of)\s+(?:this|the|our)\s+)?(?:[\w'-]+\s+){0,3}?(?:letter|notice|notification|decision|denial"
    r"|determination|date)\b")
_NOT_ANCHOR = _rx(r"\bappeal (?:decision|letter)|\bhearing decision|\b(?:we|plan) (?:receive|get)|\b(?:receiv\w*"
    r"|receipt of) (?:your|the) (?:appeal|request)|\bdecision on your appeal")
_BY_SUBJECT = _rx(r"(?:\bmust\s+(?:be\s+)?(?:[\w-]+\s+){0,3}?(?:received|filed|submitted|made|postmarked|sent"
    r"|requested|ask\w*|file|submit|request|appeal)\s+(?:[\w-]+\s+){0,4}?|\byou\s+(?:[\w-]+\s+){0,6}?|\b(?:submit|send"
    r"|file|make|request|ask for)\s+(?:[\w-]+\s+){0,4}?)(?:within|have)\s+$")
_WE_SIDE = _rx(r"\b(?:we|decid\w*|decision|answer\w*|respon\w*|reviewed|processed|completed|notif\w*|resolve\w*)\b")
_EXPLICIT = _rx(r"\b(?:by|no later than|on or before|before|deadline(?: (?:is|date))?|due(?: date)?|until"
    r"|postmarked)\s*[:,]?\s*$")
_APPEAL = _rx(r"\b(?:appeal\w*|reconsider\w*|redetermination|hearing|grievance|dispute|review)\b")
_LATER_LEVEL = _rx(r"\b(?:fair hearing|external review|independent review|state|iro|second[- ]level|ombuds\w*)\b")
_NOT_DEADLINE = _rx(r"\bpeer[- ]to[- ]peer\b|\bpeer (?:review|conversation|discussion)\b|\bcontinu\w+\b")
_PAGE = _rx(r"^(?:.{0,80}\s)?(?:page\s*\d+(?:\s*(?:of|/)\s*\d+)?|-\s*\d+\s*-)$|^[-=_*\s]*(?:page break"
    r"|end of page)[-=_*\s]*$|^\d+\s*/\s*\d+$")
_ITEM = re.compile(r"^(?:\(?\d{1,2}[.)]|\(?[a-hA-H][.)]|[-*•·▪●◦]|\u2013)\s+")
_LABEL = re.compile(r"^(?=.{0,79}$)[A-Z][\w/&().,'#-]*(?:\s+[\w/&().,'#-]+){0,4}\s*:\s*\S(?:\S*\s+){0,9}\S*$")
_DEAR = re.compile(r"(?i)^(?:dear|to whom)\b")
_KEEP_HYPHEN = {"self", "non", "follow", "out", "well", "peer", "step", "long", "short", "full", "part", "evidence"}
_ABBREV = re.compile(r"(?i)(?:\b(?:dr|mr|mrs|ms|no|st|inc|co|jr|sr|vs|e\.g|i\.e|u\.s|p\.o)|\b[A-Z])\.$")


def _valid(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError("The letter is empty. Paste the denial letter's text, or give a PDF or text file.")
    if len(text) > MAX_CHARS:
        raise InputError(f"That is too long for one letter ({MAX_CHARS:,} characters at most). Give only the letter.")
    junk = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f" or ch in "\ufffd\x7f")
    if junk > max(2, len(text) // 200) or sum(map(str.isalpha, text)) < 0.4 * len(text.replace(" ", "")) \
            or len(re.findall("[A-Za-z]{2,}", text)) < 8:
        raise InputError("That does not look like a letter: it is not readable text. Give a PDF with text in it, or a "
                         "plain text file.")
    return text


def letter_units(text: str) -> list[tuple[str, bool]]:
    """The letter as (unit, is_list_item): paragraphs made whole, list items and headings kept apart."""
    text = re.sub(r"[\t\u00a0]", " ", re.sub(r"\r\n?", "\n", text).replace("\f", "\n\n"))
    lines = [" ".join(line.split()) for line in re.sub("[\u00ad\u200b]", "", text).split("\n")]
    counts = Counter(line.lower() for line in lines)  # a running header or footer: kept only in the letterhead
    joined = "\n".join(line for n, line in enumerate(lines) if not _PAGE.match(line) and not (
        counts[line.lower()] > 1 and n > 15 and len(line) <= 100 and len(line.split()) >= 2))
    keep = _KEEP_HYPHEN | {w.lower() for w in re.findall(r"\b[a-z]+-[a-z]+\b", joined, re.I)}  # "follow-up" stays
    rows = re.sub(r"([A-Za-z0-9]+)-[ ]*\n(?:[ ]*\n)*[ ]*(\S\w*)", lambda m: f"{m[1]}-{m[2]}" if not m[2][0].islower()
                  or {m[1].lower(), f"{m[1]}-{m[2]}".lower()} & keep else m[1] + m[2], joined).split("\n")
    caps = sum(r.isupper() for r in rows) < 0.5 * max(1, sum(map(bool, rows)))  # then a line in capitals is a heading
    units, prev, prev_short = [], "", False  # units: (text, is_list_item)
    for line in rows:
        item = bool(_ITEM.match(line))
        short = bool(line) and len(line.split()) <= 7 and line[-1] not in ".,;" and (not prev or prev[-1] in ".!?:")
        join = (units and units[-1][0][-1] not in ".!?:;" and line[:1].islower()) if not prev else not (  # a page break
            item or short or _LABEL.match(line) or prev[-1] == ":" or (prev_short or _LABEL.match(prev)) and not
            line[:1].islower() or any(_DEAR.match(s) or caps and s.isupper() for s in (line, prev)))
        if line and join:
            units[-1] = (units[-1][0] + " " + line, units[-1][1])
        elif line:
            units.append((_ITEM.sub("", line) if item else line, item))
        prev, prev_short = line, short
    return units


def sentences(unit: str) -> list[str]:
    out, start = [], 0
    for m in re.finditer(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z])", unit):  # "Nov. 20" and "No. 4471" go on
        if not (m[0][0] == "." and _ABBREV.search(unit[max(0, m.start() - 6):m.start() + 1])):
            out, start = [*out, unit[start:m.end()].strip()], m.end()
    return [s for s in [*out, unit[start:].strip()] if s]


def categorize(clause: str) -> tuple[list[str], bool]:
    """(the categories a clause names, in the order it names them; whether a specific cue named them)."""
    found = sorted((min(hits), category) for category, pattern in _STRONG.items() if (hits := [
        m.start() for m in pattern.finditer(clause) if category != "documentation" or not re.search(
            r"(?i)\bgoals?\b|function|conservative|prior|previous|home exer", m[0])]))  # "goals were not included"
    if found:
        return [c for _, c in found], True
    return next(([c] for c, pattern in _GENERIC.items() if pattern.search(clause)), []), False


def find_reasons(units: list[tuple[str, bool]]) -> list[DenialReason]:
    flat = [(s, i, item) for i, (unit, item) in enumerate(units) for s in ([unit] if item else sentences(unit))]
    stops = [k for k, (s, _, item) in enumerate(flat) if not item and _STOP.search(s)]
    heads = [(k, m.end()) for k, (s, _, _) in enumerate(flat) if k not in stops and (m := _HEAD.search(s))
             and (m.start() == 0 or not s[m.end():].strip())]
    dear = next((k for k, (s, _, _) in enumerate(flat) if _DEAR.match(s)), -1)
    for first, cut in [*heads[:1], (dear + 1, 0)]:  # the heading's part, else the body after "Dear" (where the
        end = next((k for k in stops if k >= first + (0 if cut else 2)), len(flat))  # first lines may name the rights)
        if reasons := _reasons_in(flat[first:end], cut):
            return reasons
    return []


def _reasons_in(flat: list[tuple[str, int, bool]], cut: int) -> list[DenialReason]:
    # picked: [category, text, unit, is_item]; intro: a line ending in ":" before a list; pending: a criterion
    gated, picked, intro, pending = not cut, [], None, None  # stated but not (yet) said to be lacking
    for k, (sentence, unit, item) in enumerate(flat):
        sentence = sentence[cut:].lstrip(" :.-") if k == 0 and cut else sentence
        if item:  # a list item is one reason, whole
            cats = [c for clause in re.split(r"(?<=;)\s+", sentence) for c in categorize(clause)[0]]
            if not cats and intro:  # "We did not get:" and then "- Hearing test results"
                cats = [c for c in categorize(f"{intro[2]} {sentence}")[0] or intro[0] if c != "other"]
            if not gated or _DEFICIT.search(sentence) or intro and intro[1]:
                picked += [[c, sentence, unit, True] for c in cats]
        elif sentence.endswith(":") and k + 1 < len(flat) and flat[k + 1][2]:
            intro = (categorize(sentence)[0], _DEFICIT.search(sentence), sentence)
        elif not _SKIP.search(sentence):
            for clause in [c for c in re.split(r"(?<=;)\s+", sentence) if len(c.split()) >= 3] or [sentence]:
                cats, strong = categorize(clause)
                ok = not gated or _DEFICIT.search(clause) or "coding" in cats
                last = picked[-1] if picked and picked[-1][2] == unit else None
                if cats and ok and not (last and not strong and _FOLLOW.search(clause)):
                    picked += [[c, clause, unit, False] for c in cats]
                elif not cats and pending and pending[2] == unit and _DEFICIT.search(clause):
                    picked += [[c, f"{pending[1]} {clause}", unit, False] for c in pending[0]]  # "... not show this."
                elif last and ok and (cats or re.search(r"(?i)\b(?:this|that|these|those|them|it)\b", clause)):
                    last[1] += " " + clause  # a consequence, or "We did not get them.", goes with the reason before
                pending = (cats, clause, unit) if cats and not ok else None
    merged: list[list] = []
    for c, text, unit, item in picked:  # a paragraph's sentences about one thing are one reason
        if merged and merged[-1][0] == c and merged[-1][2] == unit and not item and not merged[-1][3]:
            merged[-1][1] += " " + text
        elif not any(m[0] == c and m[1] == text for m in merged):
            merged.append([c, text, unit, item])
    return [DenialReason(c, " ".join(t.split())) for c, t, _, _ in merged]


def _date(m: re.Match[str], after: dt.date | None = None) -> dt.date | None:
    """The date a ``_DATE`` match names; one without a year is the first such day after ``after``."""
    try:
        if m["mn"]:
            month, day = _MONTHS.index(m["mn"][:3].lower()) + 1, int(m["md"])
            if m["my"] or not after:
                return dt.date(int(m["my"].strip(" ,")), month, day) if m["my"] else None
            return min(d for d in (dt.date(after.year, month, day), dt.date(after.year + 1, month, day)) if d > after)
        if len(m["a"]) == 4:
            return dt.date(int(m["a"]), int(m["b"]), int(m["c"]))
        year = int(m["c"]) + (2000 if len(m["c"]) == 2 and m["s"] == "/" else 0)  # 11/20/26; not 11.20.26
        return dt.date(year, int(m["a"]), int(m["b"])) if year > 1900 else None
    except ValueError:
        return None


def find_dates(units: list[tuple[str, bool]]) -> tuple[dt.date | None, list[dt.date]]:
    """The letter's date (labelled, or alone on a line of the letterhead) and the dates of the service or request."""
    labelled, alone, service = [], [], []
    dear = next((i for i, (u, _) in enumerate(units) if _DEAR.match(u)), 15)
    for i, (unit, _) in enumerate(units):
        for m, before in ((m, unit[max(0, m.start() - 60):m.start()]) for m in _DATE.finditer(unit) if _date(m)):
            alone_here = i < min(dear, 15) and not unit[:m.start()].strip(" ,") and len(unit) - m.end() < 3
            kind = labelled if _LETTER_LABEL.search(before[-40:]) else alone if alone_here else service if (
                _SERVICE.search(before) and not _NOT_SERVICE.search(before)) else []
            kind.append(_date(m))
    letter = (labelled + alone or [None])[0]
    return letter, [d for d in dict.fromkeys(service) if d != letter]


def find_deadline(units: list[tuple[str, bool]], letter: dt.date | None, today: dt.date | None) -> tuple[str, str]:
    """(the ISO date by which to appeal or "", the sentence that says so)."""
    found: list[tuple[int, dt.date | None, str]] = []  # rank (lower is better), date, words
    for sentence in (s for unit, _ in units if _APPEAL.search(unit) for s in sentences(unit)):
        anchored = {m.start() for m in _DAYS.finditer(sentence) if _ANCHOR.match(sentence[m.end():])
                    and not _NOT_ANCHOR.search(sentence[m.end():m.end() + 60])}
        if _NOT_DEADLINE.search(sentence) and not anchored:
            continue
        later = 2 * bool(_LATER_LEVEL.search(sentence))  # a fair hearing or external review comes after the appeal
        found += [(later, when, sentence) for m in _DATE.finditer(sentence) if (when := _date(m, letter or today))
                  and _EXPLICIT.search(sentence[max(0, m.start() - 30):m.start()]) and (not letter or when > letter)]
        for m in _DAYS.finditer(sentence):
            before, after = sentence[:m.start()], sentence[m.end():]
            clause = re.split(r"[,;]\s+(?=\w+\s)", before)[-1]
            if m.start() in anchored and not _NOT_DEADLINE.search(clause) or _BY_SUBJECT.search(before[-80:]) and not (
                    _WE_SIDE.search(clause) or _NOT_DEADLINE.search(clause) or _NOT_ANCHOR.search(after[:60])):
                n = int(m["n"]) if m["n"].isdigit() else _NUMBER_WORDS[m["n"].lower()]
                found.append((1 + later, letter + dt.timedelta(days=n) if letter else None, sentence))
    _, when, words = min(found or [(0, None, "")], key=lambda f: (f[0], f[1] or dt.date.max))
    return (when.isoformat() if when else ""), " ".join(words.split())


def find_reference(units: list[tuple[str, bool]]) -> str:
    """The case, reference or authorization number; a claim number only where there is none of those."""
    found = [(int("claim" in m["label"].lower() and not re.search(r"(?i)ref|case|auth|cert|track|review|notice",
                                                                   m["label"])), pos, m["ref"].strip("-"))
             for pos, (unit, _) in enumerate(units) for m in _REF.finditer(unit)
             if sum(ch.isdigit() for ch in m["ref"]) >= 3 and not _DATE.fullmatch(m["ref"])
             and (m["suffix"] or m["sep"] or re.search(r"[A-Za-z].*\d|\d.*[A-Za-z]|-", m["ref"]))]
    return min(found)[2] if found else ""


def read_denial(text: str, *, today: dt.date | None = None) -> Denial:
    """What an appeal must answer, read from a denial letter's text. ``today`` dates a deadline given
    without a year when the letter has no date. Raises ``InputError`` for text that is no letter."""
    units = letter_units(_valid(text))
    letter, service = find_dates(units)
    return Denial(find_reasons(units), find_reference(units), letter.isoformat() if letter else "",
                  [d.isoformat() for d in service], *find_deadline(units, letter, today))
