; Practice Assistant: the Windows installer (Inno Setup 6). Build steps: build/README.md, or
;   powershell -ExecutionPolicy Bypass -File build\windows\build.ps1 [vendor options]
; which stages the frozen app in build\out\stage\app and runs:
;   ISCC.exe /DAppVersion=0.1.0 build\windows\practice-assistant.iss
;
; Per-user install (no administrator needed), desktop and Start-menu icons, disk spanning for
; bundles over 2 GB (setup.exe plus setup-N.bin files that stay beside it), silent install for
; vendors, and an uninstaller that removes the program and deletes the user's data only when asked.
;
; Silent install (vendors):    PracticeAssistant-0.1.0-windows-x64-setup.exe /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /TASKS="desktopicon"
; For every user (as admin):   add /ALLUSERS
; Silent uninstall:            "%LOCALAPPDATA%\Programs\Practice Assistant\unins000.exe" /VERYSILENT [/REMOVEDATA=yes]

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\out\stage\app"
#endif
#ifndef Span
  #define Span "no"
#endif
#ifndef VendorSuffix
  #define VendorSuffix ""
#endif

[Setup]
AppId={{6B0E4A57-2C1D-4D8B-9F7E-5A3C1B2D4E6F}
AppName=Practice Assistant
AppVersion={#AppVersion}
AppVerName=Practice Assistant {#AppVersion}
AppPublisher=Practice Assistant
; Per user: %LOCALAPPDATA%\Programs (what {autopf} means per user; Wine cannot expand {autopf}
; per user, so it is spelled out); for all users: Program Files.
DefaultDirName={code:InstallRoot}\Practice Assistant
DefaultGroupName=Practice Assistant
DisableProgramGroupPage=yes
UsePreviousAppDir=yes
; Per user by default; an administrator may choose all users (dialog or /ALLUSERS).
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog commandline
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\out
OutputBaseFilename=PracticeAssistant-{#AppVersion}{#VendorSuffix}-windows-x64-setup
SetupIconFile=..\icons\practice-assistant.ico
UninstallDisplayIcon={app}\PracticeAssistant.exe
UninstallDisplayName=Practice Assistant
WizardStyle=modern
; A model makes the bundle larger than one file may be: then (build with /DSpan=yes) the installer
; is split into setup.exe and 2 GB .bin slices. The demo build is one file.
DiskSpanning={#Span}
DiskSliceSize=max
SlicesPerDisk=1
Compression=lzma2/fast
SolidCompression=no
; Close a running copy (it holds its files open) before replacing it.
CloseApplications=yes
; A second copy of this installer started while one runs says so and stops.
SetupMutex=PracticeAssistantSetup,Global\PracticeAssistantSetup
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[InstallDelete]
; An upgrade replaces the program completely (no stale files from the older version). The
; user's data lives elsewhere (%LOCALAPPDATA%\PracticeAssistant) and is never touched.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Practice Assistant"; Filename: "{app}\PracticeAssistant.exe"; Comment: "Private writing assistant, on this computer only"
Name: "{autodesktop}\Practice Assistant"; Filename: "{app}\PracticeAssistant.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\PracticeAssistant.exe"; Description: "{cm:LaunchProgram,Practice Assistant}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
Type: filesandordirs; Name: "{app}\_internal"

[Code]
function InstallRoot(Param: String): String;
begin
  if IsAdminInstallMode then
    Result := ExpandConstant('{commonpf}')
  else
    Result := ExpandConstant('{localappdata}\Programs');
end;

const
  DataHint = 'The audit log may be a record your practice must keep. Export it first with: assistant.exe audit export --csv audit.csv';

// The user's data (settings, presets, models, kept drafts, audit log) goes only when asked:
// a question in an interactive uninstall, /REMOVEDATA=yes in a silent one.
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  DataDir := ExpandConstant('{localappdata}\PracticeAssistant');
  if not DirExists(DataDir) then
    exit;
  if UninstallSilent then
  begin
    if CompareText(ExpandConstant('{param:REMOVEDATA|no}'), 'yes') = 0 then
      DelTree(DataDir, True, True, True);
  end
  else if MsgBox('Also delete your data (settings, presets, models, kept drafts and the audit log) in ' + DataDir + '?'
                 + #13#10#13#10 + DataHint, mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES then
    DelTree(DataDir, True, True, True);
end;
