#!/bin/bash
# Regenerates the speech files in this folder (see README.md). Needs espeak-ng and sox.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say NAME VOICE PITCH SPEED TEXT: speak TEXT, resample to 8 kHz, normalise the peak
# to -1 dBFS and store it as headerless G.711 mu-law (NAME.ulaw).
say() {
	espeak-ng -v "$2" -p "$3" -s "$4" -w "$tmp/$1.wav" "$5"
	sox "$tmp/$1.wav" -r 8000 -c 1 -t raw -e u-law -b 8 "$1.ulaw" norm -1
}

say prompt-greeting ja 50 150 \
	"でんわ にんしょう です。ほんにん かくにんの ため、シャープを おしてください。アナログかいせんの かたは、コメじるしを おしてから、シャープを おしてください。"

ja1="きょうは いい てんき ですね。あしたは あめが ふるかも しれません。とうきょうの あさは でんしゃが とても こみます。わたしは まいにち コーヒーを のんでから、かいしゃに いきます。ひるごはんは、おにぎりと みそしるを たべました。らいしゅうの かいぎは すいようびの ごご さんじから です。しりょうを じゅんびして、メールで おくって ください。おでんわ ありがとう ございます。ただいま でんわが こみあって おります。しばらく おまちください。ごようけんを どうぞ。"
say ja-male ja 40 160 "$ja1"
say ja-female ja+f3 75 170 "$ja1"
say ja-child ja+f5 95 180 "いち、に、さん、し、ご、ろく、なな、はち、きゅう、じゅう。もしもし、きこえますか。はい、きこえます。ありがとう ございました。さようなら。"

en1="Thank you for calling. Your call is important to us. Please listen carefully, as our menu options have changed. To verify your identity, press the pound key. If you are calling from an analog line, press star, then pound. The weather today will be sunny with a high of twenty five degrees. Tomorrow expect light rain in the afternoon. Please hold while we transfer your call to the next available agent. Hello, hello? Can you hear me now? Yes, I can hear you. Goodbye."
say en-male en-us 45 165 "$en1"
say en-female en-gb+f4 80 175 "$en1"
