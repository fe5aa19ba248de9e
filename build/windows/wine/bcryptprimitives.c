/* bcryptprimitives.dll for Wine 8, which lacks it. Rust-built wheels (pydantic_core, tokenizers,
 * safetensors, orjson) import ProcessPrng from it. Installed into the build prefix's system32
 * only; never shipped: Windows 10 and 11 have their own. Built by build/windows/wine_prefix.py. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom, advapi32 */

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
