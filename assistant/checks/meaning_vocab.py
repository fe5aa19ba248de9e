"""The words the meaning check reads notes and drafts by: sides, body parts (each with the words for it and the
region it belongs to), assistance levels, goal statuses, and the findings whose presence or absence matters.
Data only; ``meaning.py`` uses it."""

from __future__ import annotations

# A side, as clinicians write it. "B" is both sides.
SIDES = {
    "right": "R", "rt": "R", "r": "R", "left": "L", "lt": "L", "l": "L", "bilateral": "B", "bilaterally": "B",
    "both": "B", "b/l": "B", "bil": "B", "b": "B", "bilat": "B",
}
SIDE_WORDS = {"R": "right", "L": "left", "B": "both sides"}

# Body part -> the words for it. A word ending in "*" takes any ending. Regions (an arm, a leg, the spine) cover
# the parts listed under them in REGIONS, so "right lower extremity" is supported by notes about the right knee.
PARTS = {
    "shoulder": "shoulder* rotator_cuff deltoid* glenohumeral scapula* scapular ac_joint",
    "elbow": "elbow* epicondyl* olecranon",
    "wrist": "wrist* carpal distal_radius",
    "hand": "hand* finger* thumb* palm* grip grasp metacarpal* digit*",
    "forearm": "forearm*",
    "arm": "arm arms upper_extremit* ue bue upper_limb* biceps triceps",
    "hip": "hip hips hip_flexor* hip_abductor* hip_extensor* glute* gluteal* greater_trochanter*",
    "thigh": "thigh* quadricep* quad quads hamstring* femur femoral",
    "knee": "knee* patella* patellar acl mcl meniscus meniscal tka",
    "ankle": "ankle* achilles dorsiflex* plantarflex* malleol* df",
    "foot": "foot feet toe toes heel* plantar_fascia*",
    "leg": "leg legs lower_extremit* le ble lower_limb* calf calves shin*",
    "neck": "neck cervical c-spine sternocleidomastoid scm",
    "upper back": "upper_back thoracic mid_back mid-back t-spine",
    "low back": "low_back lower_back lumbar lumbosacral lbp l-spine sacroiliac si_joint",
    "back": "back spine spinal paraspinal*",
    "trunk": "trunk core",
    "abdomen": "abdomen abdominal stomach belly",
    "ear": "ear ears ear_canal* posterior_canal* horizontal_canal* anterior_canal* semicircular_canal* bppv inner_ear",
    "head": "head skull",
    "jaw": "jaw tmj temporomandibular",
    "face": "face facial",
    "pelvis": "pelvis pelvic pelvic_floor perineum",
    "chest": "chest ribs rib cp",
    "throat": "throat pharynx pharyngeal larynx laryngeal vocal_fold* vocal_cord* voice_box",
    "mouth": "mouth tongue lip lips palate oral buccal cheek cheeks lingual labial",
}
# A region -> the parts in it; a part of a region supports the region's name, and the region a part of it.
REGIONS = {
    "arm": ("shoulder", "elbow", "forearm", "wrist", "hand"), "leg": ("hip", "thigh", "knee", "ankle", "foot"),
    "back": ("neck", "upper back", "low back"), "pelvis": ("hip",), "throat": ("mouth",), "mouth": ("throat",),
    "face": ("mouth", "jaw"), "head": ("face", "jaw", "ear"),
}
# Conditions of one side that a side word qualifies ("right hemiparesis", "L facial droop").
SIDED = "hemiparesis hemiplegia hemibody hemi neglect facial_droop weakness"

# Activities that are part of another: the notes' level for the whole serves the part (and a part's level is not
# the whole's).
WITHIN = {"upper body dressing": "dressing", "lower body dressing": "dressing"}
# Assistance levels, most help last; (level, words). Longer words are matched first.
LEVELS = {
    "independent": "independent independently indep (i)",
    "modified independent": "modified_independent modified_independence mod_i mod_ind modi",
    "supervision": "supervision supervised sba stand-by_assist* standby_assist* stand_by_assist* stand-by set-up setup",
    "contact guard": "contact_guard contact_guard_assist* cga",
    "minimal assist": "minimal_assist* minimal_assistance min_a min_assist* mina min_(a) minimum_assist*",
    "moderate assist": "moderate_assist* moderate_assistance mod_a mod_assist* moda mod_(a)",
    "maximal assist": "maximal_assist* maximal_assistance max_a max_assist* maxa max_(a) maximum_assist*",
    "dependent": "dependent dependently total_assist* total_a dep",
}
# What a level is for. Each activity -> its words (a "<>" or "to" between two positions is a transfer).
ACTIVITIES = {
    "sit to stand": "sit_to_stand sit<>stand sit-to-stand sit/stand sts sit_<>_stand chair_rise*",
    "transfers": "transfer* stand_pivot* squat_pivot* bed_to_chair chair_to_bed toilet_transfer* tub_transfer*",
    "bed mobility": "bed_mobility supine_to_sit supine<>sit sit_to_supine rolling_to rolls_to rolled_to roll_to log_roll*",
    "walking": "ambulat* gait walk walks walked walking amb",
    "stairs": "stair* steps curb*",
    "upper body dressing": "ub_dressing upper_body_dressing upper-body_dressing ub",
    "lower body dressing": "lb_dressing lower_body_dressing lower-body_dressing lb",
    "dressing": "dressing dress dresses dressed donning doffing don dons doff doffs",
    "toileting": "toileting toilet_hygiene toilet",
    "bathing": "bathing bath* shower*",
    "grooming": "grooming groom* oral_care hygiene hair_washing washing_hair hair_care",
    "eating": "feeding self-feeding eating eat* meal*",
    "self-correction": "self-correct* self_correct*",
}

# Goal statuses; (status, words). "not met" is matched before "met".
STATUSES = {
    "not met": r"not (?:yet )?(?:been )?(?:met|achieved|reached)|unmet|not attained",
    "partially met": r"partially (?:met|achieved)|partly (?:met|achieved)|in part",
    "discontinued": r"discontinued|d/c(?:'?d)?|deferred|no longer appropriate",
    "progressing": r"progressing|in progress|ongoing|continu(?:e|es|ing)|making progress|improving",
    "met": r"met|achieved|attained|reached",
}

# Findings whose presence or absence a draft must not flip: concept -> words (medspaCy target rules).
FINDINGS = {
    "suicidal ideation": "suicidal ideation|suicidal thoughts|thoughts of suicide|suicidality|SI|passive SI|active SI|"
                         "wish to die|thoughts of killing herself|thoughts of killing himself|suicidal",
    "homicidal ideation": "homicidal ideation|homicidal thoughts|HI|thoughts of harming others|homicidal",
    "self-harm": "self-harm|self harm|self-injury|self injury|self-injurious behavior|cutting|NSSI",
    "pain": "pain|painful|discomfort|soreness|tenderness|LBP",
    "falls": "fall|falls|fell|falling",
    "dizziness": "dizziness|dizzy|vertigo|lightheadedness|lightheaded",
    "numbness": "numbness|tingling|paresthesia|paresthesias|numb",
    "substance use": "substance use|alcohol use|drug use|drinking|alcohol|cannabis use|marijuana use|ETOH|EtOH|"
                     "etoh|ETOH use|EtOH use|"
                     "using substances",
    "hallucinations": "hallucinations|hallucinating|AH|VH|auditory hallucinations|visual hallucinations|"
                      "hearing voices",
    "shortness of breath": "shortness of breath|SOB|dyspnea|short of breath",
    "coughing": "coughing|cough|coughs|throat clearing|wet vocal quality",
    "choking": "choking|choked|chokes",
    "nightmares": "nightmares|nightmare|bad dreams",
    "swelling": "swelling|edema|swollen",
    "headache": "headache|headaches|migraine",
    "nausea": "nausea|nauseous|vomiting",
    "panic attacks": "panic attacks|panic attack",
    "binge episodes": "binge|binges|binging|bingeing|binge drinking|binge eating|binge episode|binge drinking episode",
}
SAFETY = {"suicidal ideation", "homicidal ideation", "self-harm"}  # flagged even when the notes say nothing
