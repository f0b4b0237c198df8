"""``python -m voice``: check, speak and listen from a shell (for operators and for debugging a box).

python -m voice check               are the extra and its models installed? (exit 0/1)
python -m voice say "text" -o x.ogg  write an OGG/Opus voice note
python -m voice hear note.m4a        print what was said
python -m voice probe note.ogg       print the duration in seconds
"""

from __future__ import annotations

import argparse
import sys

import voice


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voice", description="ClawOps local speech.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="report whether voice works here")
    say = sub.add_parser("say", help="text to an OGG/Opus voice note")
    say.add_argument("text")
    say.add_argument("-o", "--out", required=True)
    hear = sub.add_parser("hear", help="transcribe an audio file")
    hear.add_argument("file")
    probe = sub.add_parser("probe", help="print an audio file's duration")
    probe.add_argument("file")
    args = parser.parse_args(argv)

    try:
        if args.cmd == "check":
            reason = voice.unavailable_reason()
            if reason:
                print(reason)
                return 1
            times = voice.preload()
            print(f"voice ok (models loaded in {times['stt_load_s']:.2f} s + {times['tts_load_s']:.2f} s)")
        elif args.cmd == "say":
            path = voice.synthesize_to_file(args.text, args.out)
            print(f"{path} ({voice.probe(path):.1f} s)")
        elif args.cmd == "hear":
            print(voice.transcribe(args.file).text)
        else:
            print(f"{voice.probe(args.file):.2f}")
    except (voice.VoiceError, FileNotFoundError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
