/*
 * A stand-in for Windows' bcryptprimitives.dll, for running Rust test
 * binaries under wine 8, which lacks it: Rust's std imports ProcessPrng
 * from it (for HashMap's random keys), and a binary whose imports cannot
 * be found does not start. This ProcessPrng fills the buffer with
 * RtlGenRandom (SystemFunction036 in advapi32), which wine has.
 * .ci/windows builds it with mingw and puts it in the wine prefix's
 * system32 when the prefix has no bcryptprimitives.dll of its own.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): always TRUE on Windows. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        /* RtlGenRandom takes a ULONG length. */
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
