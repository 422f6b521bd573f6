#!/usr/bin/env python3
"""Synthetic DICOM test data for the capture scripts (capture_dicom_studies
in scripts/lib/capture.sh; make-class-captures.sh, make-policy-captures.sh).

Usage: dicom_synth.py DIR UID_NAME MODALITY:AE...

For each MODALITY (CT or MR) one study: 3 images, 64 x 64 x 16 bit (8 KiB
of gradient pixel data each), as dump2dcm text dumps DIR/img/<mod>N.dump
with their pixel data in DIR/img/<mod>N.raw; the study's worklist entry
(Modality Worklist Information Model, PS3.4 K.6), scheduled for AE, as
DIR/wl-<mod>.dump; and the study UID in DIR/<mod>.study. UIDs are 2.25.<n>
from fixed names under UID_NAME (PS3.5 B.2), so every run makes the same
files. All of it is made up: no patient data.
"""
import os
import struct
import sys
import uuid

STUDIES = {
    # modality: (SOP class, patient, patient ID, accession, date, time,
    #            description, modality-specific elements)
    "CT": ("1.2.840.10008.5.1.4.1.1.2", "TEST^PATIENT^ONE", "TEST0001", "ACC0001",
           "20240105", "093000", "HEAD WITHOUT CONTRAST",
           "(0018,0060) DS [120]\n(0028,1052) DS [-1024]\n(0028,1053) DS [1]\n"),
    "MR": ("1.2.840.10008.5.1.4.1.1.4", "TEST^PATIENT^TWO", "TEST0002", "ACC0002",
           "20240105", "094500", "KNEE LEFT",
           "(0018,0020) CS [SE]\n(0018,0021) CS [NONE]\n(0018,0022) CS [NONE]\n"
           "(0018,0023) CS [2D]\n(0018,0080) DS [500]\n(0018,0081) DS [20]\n"
           "(0018,0087) DS [1.5]\n"),
}


def main():
    wd, uid_name = sys.argv[1:3]

    def uid(name):
        return "2.25.%d" % uuid.uuid5(uuid.NAMESPACE_URL, uid_name + ":" + name).int

    for arg in sys.argv[3:]:
        mod, ae = arg.split(":", 1)
        sop, pn, pid, acc, date, time, desc, extra = STUDIES[mod]
        key = mod.lower()
        study = uid(key + ":study")
        with open(os.path.join(wd, key + ".study"), "w") as f:
            f.write(study)
        with open(os.path.join(wd, "wl-%s.dump" % key), "w") as f:
            f.write("""(0008,0005) CS [ISO_IR 100]
(0008,0050) SH [{acc}]
(0010,0010) PN [{pn}]
(0010,0020) LO [{pid}]
(0010,0030) DA [19700101]
(0010,0040) CS [O]
(0020,000d) UI [{study}]
(0032,1060) LO [{desc}]
(0040,0100) SQ
(fffe,e000) -
(0008,0060) CS [{mod}]
(0040,0001) AE [{ae}]
(0040,0002) DA [{date}]
(0040,0003) TM [{time}]
(0040,0007) LO [{desc}]
(0040,0009) SH [SPS-{acc}]
(0040,0010) SH [STATION-{ae}]
(fffe,e00d) -
(fffe,e0dd) -
(0040,1001) SH [RP-{acc}]
""".format(acc=acc, pn=pn, pid=pid, study=study, desc=desc, mod=mod, ae=ae, date=date, time=time))
        for n in (1, 2, 3):
            name = "%s%d" % (key, n)
            raw = os.path.join(wd, "img", name + ".raw")
            with open(raw, "wb") as f:
                for r in range(64):
                    f.write(struct.pack("<64H", *(((r * 7 + c * 3 + n * 100) % 4096) for c in range(64))))
            with open(os.path.join(wd, "img", name + ".dump"), "w") as f:
                f.write("".join([
                    "(0008,0005) CS [ISO_IR 100]\n(0008,0008) CS [ORIGINAL\\PRIMARY\\AXIAL]\n",
                    "(0008,0016) UI [%s]\n(0008,0018) UI [%s]\n" % (sop, uid(name + ":sop")),
                    "(0008,0020) DA [%s]\n(0008,0030) TM [%s]\n(0008,0050) SH [%s]\n" % (date, time, acc),
                    "(0008,0060) CS [%s]\n(0008,0070) LO [SYNTHETIC]\n(0008,0080) LO [TEST HOSPITAL]\n" % mod,
                    "(0008,1030) LO [%s]\n" % desc,
                    "(0010,0010) PN [%s]\n(0010,0020) LO [%s]\n(0010,0030) DA [19700101]\n(0010,0040) CS [O]\n" % (pn, pid),
                    extra,
                    "(0018,0050) DS [1]\n",
                    "(0020,000d) UI [%s]\n(0020,000e) UI [%s]\n" % (study, uid(key + ":series")),
                    "(0020,0010) SH [1]\n(0020,0011) IS [1]\n(0020,0013) IS [%d]\n" % n,
                    "(0020,0032) DS [-16\\-16\\%d]\n(0020,0037) DS [1\\0\\0\\0\\1\\0]\n" % n,
                    "(0020,0052) UI [%s]\n" % uid(key + ":for"),
                    "(0020,4000) LT [SYNTHETIC TEST IMAGE - NOT PATIENT DATA]\n",
                    "(0028,0002) US 1\n(0028,0004) CS [MONOCHROME2]\n(0028,0010) US 64\n(0028,0011) US 64\n",
                    "(0028,0030) DS [0.5\\0.5]\n(0028,0100) US 16\n(0028,0101) US 12\n(0028,0102) US 11\n",
                    "(0028,0103) US 0\n(7fe0,0010) OW =%s\n" % raw,
                ]))


if __name__ == "__main__":
    main()
