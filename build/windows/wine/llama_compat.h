/* Debian 12's mingw-w64 headers (v10) predate these Windows 8+ thread power-throttling names. */
#ifndef THREAD_POWER_THROTTLING_CURRENT_VERSION
typedef struct { unsigned long Version; unsigned long ControlMask; unsigned long StateMask; } THREAD_POWER_THROTTLING_STATE;
#define THREAD_POWER_THROTTLING_CURRENT_VERSION 1
#define THREAD_POWER_THROTTLING_EXECUTION_SPEED 0x1
#endif
