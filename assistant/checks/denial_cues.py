"""The cues a denial letter's sentences are read by: what each reason is about, what says something is
lacking, where the reasons begin and end; and the letter cut into sentences."""

from __future__ import annotations

import re

# What each reason is about. A documentation cue names a document (<DOC>) and says it is missing, unsigned or
# old (<GONE>); "[^.;]" stays within the sentence ("G31.84" holds no sentence end).
_DOC = (r"(?:(?:progress|treatment|daily|visit|session|clinical|office|therapy|physician|doctor'?s?|chart)\s+notes?"
        r"|notes?|(?:progress|status|discharge)\s+reports?|(?:medical\s+)?records|(?:test|testing|assessment"
        r"|audiology)\s+(?:results|scores|data)|scores|results|(?:re-?)?evaluations?|plan of care|treatment plan"
        r"|(?:physician|doctor|surgeon|prescriber)(?:'s)?\s+(?:orders?|prescriptions?|certification)|prescriptions?"
        r"|orders?|signatures?(?: page)?|(?:diagnostic |comprehensive |psychological )?assessments?|stud(?:y|ies)|imaging|x-rays?|mri|reports?|(?:re)?certification|pages?)")
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
        r"|not (?:an? )?(?:valid|complete|specific|billable|payable|recognized|appropriate|consistent|compatible|correct|accepted|allowed)"
        r"|(?:does|do|did) not (?:match|support|correspond))|\b(?:invalid|deleted|outdated|expired|retired|incorrect"
        r"|wrong|truncated|unspecified|mismatched|non-?specific|unlisted|not (?:a )?(?:valid|billable|payable"
        r"|specific)|(?:a )?(?:current|valid|correct)) (?:[\w-]+\s+){0,3}?(?:codes?|diagnos[ie]s|cpt|icd)\b"
        r"|\bdiagnos[ie]s\b[^.;]{0,80}?\b(?:does|did|do)\s+not\s+(?:support|match|correspond|justify|align)|\b(?:does"
        r"|do|did) not (?:match|correspond to|agree with) (?:the )?(?:[\w-]+\s+){0,2}?(?:codes?|diagnos[ie]s"
        r"|procedures?|cpt)\b|\b(?:not|in)consistent with the (?:\w+\s+)?(?:diagnosis|procedure|code)"
        r"|\bnot supported by the (?:\w+\s+)?diagnos[ie]s\b|\bmodifiers?\b|\bcoded\b[^.;]{0,40}\bspecific|\b(?:is|are"
        r"|be) (?:coded|billed) (?:as )?[A-Z]?\d{4}|\b(?:coding|code) (?:error|mismatch|conflict)"
        r"|\bnot (?:support|match|justify|correspond to)\b[^.;]{0,80}?\b(?:cpt|hcpcs)\b|\b(?:screening|history|z|symptom"
        r"|category|header|manifestation|external cause)[- ]codes?\b|\bcategory (?:heading|header)\b|\bcannot be billed\b|\b(?:missing|added|required|additional|seventh|sixth|fifth)\s+(?:\w+\s+)?characters?\b|\bdiagnos[ie]s\b[^.;]{0,120}?\b(?:does|did|do)\s+not"
        r"\s+(?:support|match|correspond|justify|align)|\b(?:diagnos[ie]s|codes?) and (?:the )?(?:procedures?|cpt|services?)"
        r"(?: codes?)? (?:are|were|is) (?:inconsistent|mismatched|not consistent|not compatible)"),
    "documentation": _rx(r"\b<DOC>\b(?:\s+[\w,'()/.-]+){0,12}?\s+(?:(?:is|are|was|were|has"
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
        r"|speech therapy|pt|ot|programs?)\b|\bhome exercise\b|\bhep\b|\b(?:tried|attempted|had|received|completed)\s+(?:[\w-]+\s+){0,4}?(?:therapy|treatment|care|counseling|medications?|outpatient\w*)\s+(?:\w+\s+){0,2}?(?:before|previously|first|earlier)\b|\bstep therapy\b|\b(?:first tried"
        r"|tried (?:\w+ ){0,6}?first)\b|\b(?:trial|course)s?\s+of\s+(?:[\w-]+\s+){0,3}?(?:therapy|treatment"
        r"|medications?|medicines?|exercises?|nsaids?|injections?|bracing|splinting|outpatient|counseling)|\b(?:less"
        r"|lower)[- ](?:intensive|level)\b[^.;]{0,80}?\b(?:tried|attempted|failed|completed|used first)\b|\b(?:tried"
        r"|attempted|failed)\b[^.;]{0,60}?\b(?:less|lower)[- ](?:intensive|level)\b|\bfailed\s+(?:to respond to"
        r"|a trial|conservative|prior|previous|first-line)\b|\b(?:treatments?|therapy|therapies|care"
        r"|medications?) (?:\w+ ){0,3}?(?:tried|provided|received|given|done|used|had) (?:\w+ ){0,4}?(?:before|previously"
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
        r"|within) (?:[\w']+\s+){0,2}?network\b|\bnot (?:yet )?(?:contracted|credentialed|participating)\b|\breferrals?\b"
        r"|\b(?:wrong|incorrect|outdated|correct|proper|required|old|\d{4})\s+(?:[\w-]+\s+){0,2}?(?:form|portal|fax"
        r"|address|department|vendor|payer)\b|\bversion of the (?:[\w-]+\s+){0,4}?form\b|\bportal\b|\bby fax\b"
        r"|\b(?:must|should) be (?:submitted|sent|requested|made) (?:through|via|using|on|to)\b|\b(?:untimely"
        r"|not timely|timely (?:filing|submission|notification|request)|late (?:request|submission|notification)"
        r"|retro(?:active|spective)(?:ly)?|past the (?:deadline|filing limit)|filing (?:limit|deadline))\b"
        r"|\b(?:submitted|received|requested|sent|made)\s+(?:\S+\s+){0,4}?(?:late|after (?:the )?(?:services?"
        r"|treatment|care|date of service|start)|after (?:\S+\s+){0,3}?(?:began|started|begun|(?:were|was"
        r"|had been) (?:provided|rendered|given)))\b|\b(?:before|prior to) (?:the )?(?:services?|treatment|care"
        r"|therapy) (?:starts?|begins?|(?:is|are) (?:provided|given))\b|\bduplicate\b|\bnpi\b"),
    # A benefit limit reached is no error to correct: "other", as are exclusions (below, in _GENERIC).
    "other": _rx(r"\b(?:visit|benefit|annual|calendar[- ]year|yearly|plan[- ]year|lifetime)\s+(?:limit|maximum|max"
        r"|cap)\b|\b(?:limit|maximum|cap) of \d+\b|\bexhausted\b|\bused (?:all|up|\d+|in full)\b|\bno (?:\w+ )?(?:visits|sessions|days|units) (?:left|remaining)\b|\bhas been used\b|\bbeyond (?:this|the|that|its|their) (?:\w+ )?limit\b|\b(?:limit|maximum)\b[^.;]{0,30}\b(?:reached|met)\b|\b(?:covers?|allows?"
        r"|limited to) (?:up to )?\d+ (?:[\w-]+\s+){0,3}?(?:visits|sessions|days|units) (?:each|per|a|every)\b"),
    "medical_necessity": _rx(r"\b(?:no longer|not) (?:making|showing) (?:\w+ )?progress\b|\bexpectation\b[^.;]{0,40}?\bimprov|\b(?:not|un)likely to (?:improve|benefit)"
        r"|not expected to (?:improve|benefit|make|result)|\bplateau\w*|\bmaintenance\b|\b(?:stayed"
        r"|remained) (?:about |roughly |largely |mostly )?(?:the same|unchanged|stable|flat)\b|\bno (?:further |significant |meaningful )?(?:improvement"
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
_DEFICIT = _rx(r"\b(?:retro(?:active|spective)\w*|untimely|not|no|never|none|nor|lack\w*|missing|without|absent|insufficient|inadequate|incomplete|unable"
    r"|fail\w*|cannot|unclear|vague|unsigned|undated|illegible|outdated|expired|invalid|deleted|unspecified|truncated"
    r"|exceed\w*|above|den(?:y|ied|ial)|wrong|incorrect|mismatch\w*|older|stale|late|after|before|instead|rather|only"
    r"|must|requires?|required|excluded|ended|terminated|maintenance|plateau\w*|more than|same|already|need(?:s"
    r"|ed)? (?:more|additional|further|current|updated|recent))\b|n't\b")
_SKIP = _rx(r"\b(?:did|do|does) not (?:make a decision|decide|review|rule)\b|\bnot (?:on |based on )?(?:a )?(?:review|finding)"
    r" (?:of|about|on)\b|\b(?:is not|does not mean|doesn't mean|not) (?:a |an )?(?:decision|determination|statement|judgment"
    r"|finding) (?:about|on|of|that|whether)\b|\bcopy of\b|\bfree of charge\b|\btty\b|\bcall (?:us|member)\b")
_BACK = _rx(r"\b(?:this|these|those|them|it)\b")  # a sentence that points back to the one before
_FLAW = _rx(r"\b(?:unsigned|undated|illegible|outdated|expired|stale|old|not (?:been )?(?:signed|dated|legible|current))\b")
# A sentence that states the rule (what the plan covers or asks for), not what this request lacks.
_RULE = _rx(r"\b(?:polic(?:y|ies)|guidelines?|criteria|rules?|manual|plan|medicare|medicaid|we)\b[^.;]{0,40}?\b(?:covers?"
    r"|requires?|asks?|allows?|says|states|expects?)\b|^(?:[\w'-]+\s+){1,3}?(?:requires?|covers?|asks? (?:for|that))\b"
    r"|\b(?:is|are)\s+(?:only\s+)?(?:considered\s+)?(?:medically necessary|covered|reasonable and necessary)\s+(?:only\s+)?"
    r"(?:when|if|for)\b|^(?:under|per)\s+(?:this|our|the)\s+(?:[\w-]+\s+)?(?:polic(?:y|ies)|guidelines?|criteria|rules)\b")
# A sentence that says what was received, not what is lacking.
_DESCRIBES = _rx(r"\bwe (?:reviewed|received|read|looked at)\b|\b(?:which|that) (?:documents?|shows?|includes?|lists?"
    r"|describes?)\b|^(?:the|your|this) (?:[\w-]+ ){0,3}?(?:notes?|records?|evaluation|plan|request|summary|letter)\b[^.;]{0,60}?\b(?:documents|lists"
    r"|describes|includes)\b")
_NEG = _rx(r"\b(?:not|no|never|none|without|lack\w*|missing|cannot)\b|n't\b")
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

_DEAR = re.compile(r"(?i)^(?:dear|to whom)\b")
_ABBREV = re.compile(r"(?i)(?:\b(?:dr|mr|mrs|ms|no|st|inc|co|jr|sr|vs|e\.g|i\.e|u\.s|p\.o)|\b[A-Z])\.$")


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
