; Inno Setup 6 script of the FaceDesk installer for Windows (x64).
;
; Do not compile it by hand: installer\build_windows.ps1 builds the application folder
; (dist\FaceDesk, PyInstaller) and then runs
;   ISCC.exe /DAppName=... /DAppVersion=... ... installer\facedesk.iss
; with the names from installer\app.toml and the version from pyproject.toml (the same
; source the Linux bundle reads), so nothing here repeats them.
;
; The installer puts the folder in Program Files (or, for a user without administrator
; rights who chooses "install for me only", in %LOCALAPPDATA%\Programs), adds a Start menu
; entry (and, if ticked, a desktop icon) and an uninstaller. It never touches galleries or
; settings: they belong to the user (README, "Where data and settings live").
;
; Unattended installation (software deployment):
;   FaceDesk-Setup-<version>-x64.exe /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /ALLUSERS
;   ... /CURRENTUSER instead of /ALLUSERS for a per-user installation, /DIR="D:\Apps\FaceDesk"
;   to choose the folder, /LOG="C:\Temp\facedesk-setup.log" for a log.
; Unattended removal: "%ProgramFiles%\FaceDesk\unins000.exe" /VERYSILENT /SUPPRESSMSGBOXES

#ifndef AppVersion
  #error Build with installer\build_windows.ps1: it defines AppName, AppVersion and the rest
#endif

; AppId must start with "{{" in the [Setup] section (a literal brace)
#define AppIdEscaped "{" + AppId

[Setup]
AppId={#AppIdEscaped}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppPublisher}
AppComments={#AppSummary}
VersionInfoVersion={#AppVersionNumeric}
VersionInfoProductName={#AppName}
VersionInfoDescription={#AppName} installer
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; administrators install for all users; others may install for themselves
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog commandline
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#OutputDir}
OutputBaseFilename={#AppName}-Setup-{#AppVersion}-x64
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\{#AppExeName}
UninstallDisplayName={#AppName} {#AppVersion}
InfoBeforeFile={#SourcePath}\windows\before-install.txt
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; an upgrade replaces the libraries of the previous version instead of mixing the two
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExeName}"; Comment: "{#AppSummary}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExeName}"; Comment: "{#AppSummary}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExeName}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
