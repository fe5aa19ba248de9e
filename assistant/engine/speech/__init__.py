"""Speech to text on this computer: faster-whisper (CTranslate2) over a Whisper model in CTranslate2 format, and the
recordings it reads. The only package that imports faster_whisper, ctranslate2 or av."""
