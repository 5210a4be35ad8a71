#!/bin/bash
# Regenerates the shipped prompts in this folder (see ../README.md), or in
# OUTDIR when given: ./generate.sh [OUTDIR]. Needs espeak-ng and sox.
# Japanese prompts are NAME.wav, English ones en-NAME.wav.
# Output: NAME.wav, 8000 Hz mono PCM16, RMS -20 dBFS.
#
# Every prompt goes through the same steps with the same flags:
#   1. espeak-ng -v ja (en for English) -p 50 -s 160: speak the kana (or
#      English) text (22050 Hz mono).
#   2. sox: trim the synthesiser's leading and trailing silence (below 0.1 %
#      of full scale), resample to 8000 Hz (rate -v); then, in a second run
#      because fade needs a known length, fade in 20 ms and out 50 ms and pad
#      200 ms of silence at each end. Kept as 32-bit float so only the last
#      step rounds.
#   3. sox: measure RMS and peak of the whole padded file (stats) and apply
#      one gain that brings the RMS to TARGET_RMS dBFS, lowered if needed so
#      the peak stays at or below PEAK_CEILING dBFS. Written as 16-bit PCM
#      without dither (-D), so reruns are byte-identical.
set -euo pipefail
out=${1:-$(dirname "$0")}
mkdir -p "$out"
cd "$out"

VOICE=ja
PITCH=50
SPEED=160
TARGET_RMS=-20  # dBFS, RMS over the whole stored file (sox stats "RMS lev dB")
PEAK_CEILING=-1 # dBFS, never exceeded (sox stats "Pk lev dB")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say NAME TEXT
say() {
	local name=$1 text=$2
	espeak-ng -v "$VOICE" -p "$PITCH" -s "$SPEED" -w "$tmp/$name.raw.wav" "$text"
	sox -D "$tmp/$name.raw.wav" -e floating-point -b 32 "$tmp/$name.trim.wav" \
		silence 1 0.01 0.1% reverse silence 1 0.01 0.1% reverse \
		rate -v 8000
	sox -D "$tmp/$name.trim.wav" "$tmp/$name.f32.wav" fade t 0.02 -0 0.05 pad 0.2 0.2
	local stats rms pk gain
	stats=$(sox "$tmp/$name.f32.wav" -n stats 2>&1)
	rms=$(awk '/^RMS lev dB/ {print $4}' <<<"$stats")
	pk=$(awk '/^Pk lev dB/ {print $4}' <<<"$stats")
	gain=$(awk -v t="$TARGET_RMS" -v c="$PEAK_CEILING" -v r="$rms" -v p="$pk" \
		'BEGIN { g = t - r; if (p + g > c) g = c - p; printf "%.2f", g }')
	sox -D "$tmp/$name.f32.wav" -e signed-integer -b 16 -c 1 -r 8000 "$name.wav" gain "$gain"
	printf '%-10s gain %+6.2f dB  ' "$name" "$gain"
	sox "$name.wav" -n stats 2>&1 | awk '/^(Pk lev dB|RMS lev dB|Length s)/' | tr -s ' ' | paste -sd ' '
}

# Texts in kana: espeak-ng's Japanese voice reads hiragana and katakana but
# not kanji. Spaces mark word boundaries. The kanji forms are in ../README.md.
say greeting "でんわ にんしょう です。ほんにん かくにんの ため、シャープを おしてください。アナログかいせんの かたは、こめじるしを おしてから、シャープを おしてください。この よびだしに こころあたりの ない かたは、ゼロ、シャープを おしてください。"
say wrong-key "にゅうりょくが ただしく ありません。ほんにん かくにんの ため、シャープを おしてください。"
say success "かくにん できました。ありがとう ございました。"
say fraud "ふせいな よびだしと して ほうこく しました。ごきょうりょく ありがとう ございました。"
say goodbye "にゅうりょくが かくにん できませんでした。おでんわを しゅうりょう します。"

# Challenge mode (see ../README.md): the dialogue plays challenge (or
# challenge-wrong after a wrong code), the code's digits, challenge-repeat,
# the digits again, then challenge-end.
say challenge "でんわ にんしょう です。これから よみあげる ばんごうを おして、さいごに シャープを おしてください。アナログかいせんの かたは、さきに こめじるしを おしてください。この よびだしに こころあたりの ない かたは、ゼロ、シャープを おしてください。ばんごうは、"
say challenge-repeat "くりかえします。"
say challenge-end "ばんごうの あとに、シャープを おしてください。"
say challenge-wrong "にゅうりょくが ただしく ありません。あたらしい ばんごうは、"
# Digits as read on the phone: 2 and 5 lengthened (にい, ごお) so that no
# digit is a single mora.
say digit-0 "ゼロ"
say digit-1 "いち"
say digit-2 "にい"
say digit-3 "さん"
say digit-4 "よん"
say digit-5 "ごお"
say digit-6 "ろく"
say digit-7 "なな"
say digit-8 "はち"
say digit-9 "きゅう"

# English: the same prompts, named en-NAME, for prompt_language en.
VOICE=en
say en-greeting "This is denwa phone verification. To confirm it is you, press the hash key. On an analog line, press star, then hash. If you did not expect this call, press zero, then hash."
say en-wrong-key "That input is not right. To confirm it is you, press the hash key."
say en-success "Thank you. Your phone is verified. Goodbye."
say en-fraud "We have recorded your report. Thank you for your help. Goodbye."
say en-goodbye "We could not confirm your input. Goodbye."
say en-challenge "This is denwa phone verification. To confirm it is you, enter the code that follows, then press the hash key. On an analog line, press star first. If you did not expect this call, press zero, then hash. Your code is:"
say en-challenge-repeat "Once again, your code is:"
say en-challenge-end "Enter the code, then press hash."
say en-challenge-wrong "That was not right. Your new code is:"
say en-digit-0 "zero"
say en-digit-1 "one"
say en-digit-2 "two"
say en-digit-3 "three"
say en-digit-4 "four"
say en-digit-5 "five"
say en-digit-6 "six"
say en-digit-7 "seven"
say en-digit-8 "eight"
say en-digit-9 "nine"
