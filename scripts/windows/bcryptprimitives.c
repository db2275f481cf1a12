/*
 * bcryptprimitives.dll for Wine 8.0 (Debian 12), which has no ProcessPrng.
 *
 * Rust's standard library (since 1.78) imports ProcessPrng from bcryptprimitives.dll for its
 * random numbers (HashMap keys, std's own uses); Windows 10 and later have it, Wine 8.0 does not,
 * so every Rust .exe fails to start under that Wine. This DLL supplies the one function, on top
 * of advapi32's SystemFunction036 (RtlGenRandom), which Wine has. It is used only for running
 * the Windows test binaries under Wine in CI (scripts/windows.sh puts it in the Wine prefix's
 * system32); the .exe we ship is unchanged and uses the real DLL on Windows.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll bcryptprimitives.c \
 *            bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

/* advapi32's RtlGenRandom, exported under this name. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/*
 * BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): fills the buffer, always returns TRUE on
 * Windows. SystemFunction036 takes a ULONG length, so a larger request is filled in chunks;
 * if the generator fails we return FALSE (std then panics rather than using weak randomness).
 */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
