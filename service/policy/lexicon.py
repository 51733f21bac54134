"""Phrase patterns for the text detectors, written over folded text (lower case, no accents)."""

from __future__ import annotations

# Everything here is matched against text folded by detectors.fold: case-folded, accents
# removed, curly apostrophes made straight, runs of spaces made one. Patterns are regex
# fragments joined with `|`; `\b` boundaries are added by the detector.

# --- explicit request for a person -------------------------------------------------------

_ADJ = (
    r"(?:(?:real|live|actual|proper|human|physical|genuine|true|flesh and blood|another"
    r"|real[- ]life|different|competent|qualified|senior)\s+)"
)
_DET = r"(?:(?:a|an|the|some|your|ur|one of your|any|to|one of the)\s+)"
_CUSTOMER = (
    r"(?:customer|costumer|coustmer|custmer|cutomer|cusotmer|costomer|custumer|custommer"
    r"|consumer|client)"
)
_AGENT = r"(?:agents?|agnts?|agrnts?|agnets?|agen)"
_HUMAN_NOUN = (
    rf"(?:humans?|human beings?|persons?|people|{_AGENT}|reps?|representatives?|operators?"
    r"|supervisors?|managers?|someone|somebody|anyone|anybody|employees?|staff|executives?"
    r"|advis[eo]rs?|associates?|specialists?|experts?|consultants?|team members?|team"
    r"|founders?|owners?|boss|assistants?|someone in charge|person in charge|human being"
    rf"|{_CUSTOMER} (?:service|care|caee|support|executive)"
    r"(?: (?:agent|rep|representative|executive|team|person|department|desk))?"
    r"|support (?:team|staff|agent|person|desk)|call cent(?:er|re)|helpdesk|help desk)"
)
# One free word after a determiner covers "a real rasa employee", "an insurance agent".
PERSON = rf"(?:{_DET}{_ADJ}?(?:(?!bot|robot|machine)[a-z]+\s+){{0,2}}|{_ADJ})?{_HUMAN_NOUN}(?!')"
_NUMBER_WORD = r"(?:cont[ae]ct|phone|ph|mobile|telephone|whatsapp|helpline|help line|toll free)"
_CONTACT_NUMBER = (
    rf"(?:(?:your|ur|{_CUSTOMER} (?:care|service|support)|care|support|call cent(?:er|re)"
    rf"|{_NUMBER_WORD})\s+){{1,3}}(?:number|no|num|nmbr|#|details)"
)
_TALK = r"(?:talk|tlk|tak|took|speak|spk|chat|caht|chatt|converse|communicate)"

# English requests; each must be about reaching a person now, not about one met before.
EXPLICIT_EN = [
    rf"{_TALK}(?:ing)?\s+(?:to|with|wit|w)?\s*{PERSON}",
    rf"(?:connect|transfer|put|forward|pass|hand|escalate|redirect|route|switch)\s+"
    rf"(?:me|us|this|it|my (?:call|chat|case|query|issue)|(?:the|this|a) (?:conversation|chat|call))?"
    rf"\s*(?:through\s+|over\s+|across\s+)?(?:to|with)\s+{PERSON}",
    rf"(?:connect|transfer|escalate)\s+(?:me\s+)?{PERSON}",
    rf"(?:get|give|gimme|find|bring|send|fetch|call)\s+(?:me\s+)?{PERSON}",
    rf"(?:want|need|like|prefer|demand|request|wanna|require|rather)\s+(?:to\s+\w+\s+"
    rf"(?:to|with)\s+)?{PERSON}",
    rf"(?:put|get)\s+(?:me\s+)?(?:in touch|in contact)\s+with\s+{PERSON}",
    rf"(?:find|locate|see|meet)\s+(?:me\s+)?{PERSON}",
    rf"(?:is|are)\s+(?:there|ther|thr)\s+(?:also\s+)?(?:a|any|an)?\s*{_ADJ}?(?:humans?|persons?"
    rf"|people|{_AGENT}|someone|somebody|anyone|anybody)\s+(?:available|there|i can|here"
    r"|working|to (?:talk|speak|chat|help|assist))",
    r"(?:call|ring|phone)\s+me(?:\s+back)?\b",
    r"(?:contact|reach)\s+me\s*(?:back|asap|please|pls|now|$)",
    r"(?:give|send)\s+me\s+a\s+(?:call|ring|callback|call back)",
    r"(?:request|want|need|like|get|schedule|arrange)\s+(?:a\s+)?"
    r"(?:call\s?back|callback|phone call)",
    r"call\s?back(?:\s+(?:me|please|pls|asap|now))?\s*$",
    rf"(?:give|send|share|need|want|what is|what'?s|whats|get|provide|tell me|know|find|"
    rf"is there|do you have|have|help me with)\s+(?:me\s+)?(?:\w+\s+){{0,2}}?{_CONTACT_NUMBER}",
    rf"{_CONTACT_NUMBER}\s*(?:please|pls|plz|send me|required|needed)?\s*$",
    r"(?:how|where)\s+(?:do|can|could)\s+i\s+(?:call|reach|phone|contact)\s+(?:you|someone|a)",
    r"(?:want|need|like|wish)\s+to\s+(?:call|ring|phone|contact)\s+(?:your|the)\s+"
    r"(?:call cent(?:er|re)|support|customer)",
    r"(?:want|need|like|wish|how (?:do|can) i)\s+(?:to\s+)?get\s+in\s+touch",
    r"(?:don'?t|do not|dont|no)\s+(?:wanna|want to|like to|want)\s+(?:talk|speak|chat)\s+"
    r"(?:to|with)\s+(?:a|the|this|your)?\s*(?:bot|robot|machine|computer|ai|chatbot)",
    r"(?:talking|chatting|speaking)\s+(?:to|with)\s+(?:a|the|this)?\s*(?:bot|robot|machine)\s+"
    r"is\s+(?:stupid|useless|pointless|annoying|frustrating)",
    r"(?:stop|enough)\s+(?:with\s+)?(?:the|this)?\s*(?:bot|robot|automated)",
    r"(?:not|no)\s+(?:a|another|more|with a|with the)?\s*(?:bot|robot|machine|chatbot)"
    r"\s*(?:please|pls)?\s*$",
    rf"(?:human|live|real person|{_AGENT})\s+(?:handoff|hand off|takeover|support|assistance"
    r"|help|to answer|to talk|available)",
    r"escalate\s+(?:this|my|the|it)",
    r"(?:no one|nobody|no body|call cent(?:er|re)|customer (?:care|service|support)"
    r"(?: number)?|support)\s+(?:is\s+)?(?:not\s+)?(?:picking up|answering|reachable|responding"
    r"|available|unavailable|not reachable|not picking)",
    r"(?:contact|reach)\s+(?:customer\s+)?(?:support|care|service|call cent(?:er|re))",
]

# A message that is only a person noun, perhaps with please/now/!: "agent", "live agent!!".
BARE_PERSON = (
    r"^(?:(?:hi|hello|hey|ok|okay|no|please|pls|sir|mam|just|now|a|an|the|i want|need"
    rf"|want|service|chat|live|someone from|contact|connect|connect with|connect to|chat with"
    rf"|talk to|speak to|agent to)\s+)*"
    rf"{_ADJ}?(?:humans?|person|{_AGENT}|representative|rep|operator|supervisor|manager"
    rf"|someone|somebody|{_CUSTOMER} (?:care|service|support)(?: \w+)?|support|helpline"
    rf"|live chat|call cent(?:er|re)|contact|contact details|{_CONTACT_NUMBER}|executive)"
    rf"(?:\s+(?:please|pls|plz|now|asap|available|to (?:talk|chat)|required|needed|to chat))*$"
)

# "I want talk", "need to chat": wanting to talk, with nobody named, in a short message.
BARE_WANT_TALK = r"^(?:i\s+)?(?:want|need|wanna|would like)\s+(?:to\s+)?(?:talk|speak|chat)$"

EXPLICIT_OTHER = [
    # Spanish
    r"hablar\s+con\s+(?:un|una|el|la|alguien|algun|alguna|una persona|un ser)?\s*"
    r"(?:agente|persona|humano|operador|operadora|representante|asesor|asesora|supervisor"
    r"|encargado|gerente|real|de verdad|ejecutivo)",
    r"(?:pasame|paseme|comuniqueme|comunicame|transfiereme|transfierame|contacteme)\s+con",
    r"quiero\s+(?:un|una|a un|a una)\s+(?:agente|humano|persona|operador|asesor)",
    r"(?:llamame|llameme|llamenme|me pueden llamar|me puede llamar|devolver la llamada)",
    r"persona\s+(?:real|de verdad)",
    # French
    r"parler\s+(?:a|avec)\s+(?:un|une|quelqu'un|le|la|l')?\s*(?:vrai|vraie)?\s*(?:agent|conseiller"
    r"|conseillere|humain|personne|operateur|operatrice|responsable|superviseur|quelqu'un)",
    r"(?:passez|passe|mettez|mets)[- ]moi\s+(?:en relation|en contact|un|une|avec|le|la)",
    r"(?:rappelez|rappelle|appelez|appelle)[- ]moi",
    r"(?:un|une)\s+(?:vrai|vraie|veritable)\s+(?:personne|humain|conseiller)",
    r"je\s+(?:veux|voudrais|souhaite)\s+(?:un|une)\s+(?:humain|conseiller|agent|operateur)",
    # German
    r"mit\s+(?:einem|einer|jemandem|dem|der|ihrem|einem echten|einer echten)?\s*(?:echten\s+)?"
    r"(?:mitarbeiter\w*|menschen|berater\w*|agenten|person|vorgesetzten|kundenberater\w*"
    r"|kundendienst|supervisor|jemandem)\s+(?:sprechen|reden|verbinden|telefonieren)",
    r"(?:verbinden|stellen)\s+sie\s+mich",
    r"(?:rufen\s+sie\s+mich\s+(?:bitte\s+)?(?:an|zuruck)|ruckruf|zuruckrufen)",
    r"(?:echten|richtigen)\s+(?:menschen|mitarbeiter)",
    r"(?:ich\s+(?:will|mochte|brauche))\s+(?:einen|eine)\s+(?:menschen|mitarbeiter\w*|berater)",
    # Portuguese
    r"falar\s+com\s+(?:um|uma|o|a|alguem|algum)?\s*(?:atendente|agente|humano|pessoa|operador"
    r"|supervisor|gerente|representante|consultor|real|alguem)",
    r"(?:me\s+liga|me\s+ligue|ligue[- ]me|liga[- ]me|me\s+ligar|retorne\s+a\s+ligacao)",
    r"(?:quero|preciso de)\s+(?:um|uma)\s+(?:atendente|humano|pessoa|agente|operador)",
    r"pessoa\s+(?:real|de verdade)",
    r"(?:me\s+)?(?:transfira|transferir|passe|passa)[- ]?(?:me)?\s+para\s+(?:um|uma|o|a)\s+"
    r"(?:atendente|humano|pessoa)",
    # Italian
    r"parlare\s+con\s+(?:un|una|l'|qualcuno|il|la|un')?\s*(?:operatore|operatrice|agente|persona"
    r"|umano|supervisore|responsabile|consulente|vero|qualcuno)",
    r"(?:richiamatemi|mi\s+richiami|mi\s+richiamate|chiamatemi|mi\s+chiami)",
    r"(?:passami|mi\s+passi)\s+(?:un|una|l')?\s*(?:operatore|operatrice|persona|responsabile)",
    r"(?:voglio|vorrei)\s+(?:un|una|parlare con un)\s+(?:operatore|operatrice|umano|persona)",
    r"persona\s+vera",
]

# A request is cancelled when one of these comes earlier in the same clause.
NEGATION_CUES = [
    r"no need",
    r"not need",
    r"don'?t need",
    r"dont need",
    r"do not need",
    r"doesn'?t need",
    r"no longer",
    r"never ?mind",
    r"no thanks",
    r"without",
    r"not necessary",
    r"unnecessary",
    r"don'?t want",
    r"dont want",
    r"do not want",
    r"didn'?t",
    r"did not",
    r"not going to",
    r"won'?t",
    r"will not",
    r"no i don'?t",
    r"rather not",
    r"instead of",
    r"no more",
    r"before",
    r"last time",
    r"yesterday",
    r"already",
    # Narrated past or other people's words: "I asked to speak to a supervisor, she hung up".
    r"wanted",
    r"asked",
    r"requested",
    r"requesting",
    r"tried",
    r"was told",
    r"were told",
    r"he",
    r"she",
    r"they",
    r"not be able",
    r"unable",
    r"was able",
    r"were able",
    # es / fr / de / pt / it
    r"no necesito",
    r"no hace falta",
    r"sin",
    r"ya no",
    r"pas besoin",
    r"plus besoin",
    r"ne veux pas",
    r"sans",
    r"brauche kein\w*",
    r"nicht notig",
    r"ohne",
    r"kein\w*",
    r"nao preciso",
    r"nao precisa",
    r"sem",
    r"non serve",
    r"non ho bisogno",
    r"senza",
    r"non c'e bisogno",
]

# Turning a person down, in so many words: the semantic head never overrules these. Narrower
# than NEGATION_CUES on purpose ("I already asked for a manager" is not a decline).
_PUT_THROUGH = (
    r"(?:transfer|put|pass|connect|forward|send|escalate|hand)\w*\s+(?:me|this|it|my \w+)"
)
_TO_A_PERSON = (
    r"(?:talk|speak|chat)\w*\s+(?:to|with)\s+(?:a |an |any |the )?"
    r"(?:human|person|agent|anyone|anybody|someone|somebody|people|staff|representative|operator)"
)
DECLINES = [
    rf"no need (?:to|for you to) (?:{_PUT_THROUGH}|{_TO_A_PERSON})",
    rf"(?:don'?t|do not|dont|doesn'?t|no|never) (?:need|want|wish) (?:to )?(?:{_TO_A_PERSON})",
    rf"(?:don'?t|do not|dont|no|never|please don'?t|pls dont) (?:{_PUT_THROUGH})",
    r"(?:don'?t|do not|dont) (?:need|want) (?:a |an |any )?(?:human|person|agent|operator|"
    r"representative|anyone|anybody|someone|callback|call back)",
    r"no (?:human|person|agent|operator|callback)s? (?:needed|necessary|required|please|thanks)",
    rf"(?:rather|prefer) not (?:to )?(?:{_TO_A_PERSON})",
    r"(?:the )?bot is (?:fine|ok|okay|enough|good)",
    r"(?:don'?t|do not|dont|please don'?t|no need to|there'?s no need to) (?:call|ring|phone|contact) "
    r"(?:me|us)",
    rf"not (?:looking|trying|asking|wanting) (?:to|for) (?:{_TO_A_PERSON}|a (?:human|person|agent))",
    rf"never (?:want|wish|need) to (?:{_TO_A_PERSON})",
    # es / fr / de / pt / it
    r"no (?:hace falta|es necesario|necesito|quiero) (?:que me (?:pases|pase|transfieras|"
    r"transfiera|comuniques)|hablar con)",
    r"(?:pas|plus) besoin de (?:me (?:passer|transferer|mettre)|parler a)",
    r"(?:je )?ne veux pas (?:parler a|etre transfere)",
    r"(?:brauche|will) (?:keinen?|nicht mit (?:einem|einer)) (?:menschen|mitarbeiter\w*|"
    r"berater\w*|person|agent\w*)",
    r"kein(?:en)? (?:mitarbeiter|menschen|berater) (?:notig|noetig|erforderlich)",
    r"nao (?:preciso|precisa|quero) (?:falar com|que me (?:transfira|passe))",
    r"non (?:serve|ho bisogno di|voglio) (?:parlare con|passarmi|essere trasferit\w)",
]

# Clause boundaries: a negation in another clause does not cancel ("no bot, get me a person").
CLAUSE_SPLIT = r"[.;!?\n]|,|\bbut\b|\bpero\b|\bmais\b|\baber\b|\bmas\b|\bma\b|\bso\b"
