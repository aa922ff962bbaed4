<#
.SYNOPSIS
  Build FaceDesk for Windows: the one-folder application, a .zip of it and the installer
  FaceDesk-Setup-<version>-x64.exe (Inno Setup).

.DESCRIPTION
  Step by step, for an agency's IT team, on a Windows 10 or 11 x64 build machine with an
  internet connection (the finished application needs none):

   1. Install Python 3.11 (64-bit) from python.org, ticking "Add python.exe to PATH",
      or: winget install Python.Python.3.11
   2. Install Inno Setup 6 from jrsoftware.org, or: winget install JRSoftware.InnoSetup
      (skip it to build only the folder and the .zip: -NoInstaller)
   3. Get the FaceDesk source folder (git clone, or unpack the source archive) and open
      PowerShell in it.
   4. Build (10-20 minutes the first time):
        powershell -ExecutionPolicy Bypass -File installer\build_windows.ps1
      It creates build\bundle-venv (a private Python environment), installs FaceDesk, the
      prebuilt dlib wheel (dlib-bin, same engine identity as the Linux build) and
      PyInstaller, renders the icons, runs PyInstaller (installer\facedesk.spec) and Inno
      Setup (installer\facedesk.iss). Results in dist\:
        dist\FaceDesk\                              the application folder
        dist\FaceDesk-<version>-windows-x64.zip     the folder, zipped (no installation)
        dist\FaceDesk-Setup-<version>-x64.exe       the installer
        *.sha256                                    checksums to publish with them
   5. Check the result (imports 20 photos, searches, opens the window, takes screenshots):
        powershell -ExecutionPolicy Bypass -File installer\smoke_test.ps1 `
          dist\FaceDesk-Setup-<version>-x64.exe C:\path\to\photos-folder-per-person
      and look at smoke-out\bundle-main-window.png.
   6. Sign FaceDesk.exe, facedesk-cli.exe and the installer with the agency's code-signing
      certificate if its policy requires it (signtool sign /fd SHA256 /a ...), then
      distribute the installer; silent options are at the top of installer\facedesk.iss.

  Names and version come from installer\app.toml and pyproject.toml, the same source as
  the Linux build (scripts/build_linux_bundle.sh).

.PARAMETER Python
  The Python 3.11 to build with (default: "py -3.11" when the launcher is there, else
  "python").
.PARAMETER InnoSetup
  Path of ISCC.exe (default: looked up in the usual install folders and on PATH).
.PARAMETER NoInstaller
  Build the folder and the .zip only.
#>
param(
  [string]$Python = "",
  [string]$InnoSetup = "",
  [switch]$NoInstaller
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest
$Root = Split-Path -Parent $PSScriptRoot
Set-Location $Root
$Started = Get-Date

function Say([string]$Text) { Write-Host "build: $Text" }
function Check([string]$What) { if ($LASTEXITCODE -ne 0) { throw "build: $What failed (exit code $LASTEXITCODE)" } }

# -- 1. the build environment ----------------------------------------------------------------
if (-not $Python) {
  if (Get-Command py -ErrorAction SilentlyContinue) { $Python = "py -3.11" } else { $Python = "python" }
}
$PyCmd, $PyArgs = $Python -split " ", 2
$PyArgs = @($PyArgs | Where-Object { $_ })
$Venv = Join-Path $Root "build\bundle-venv"
$VPy = Join-Path $Venv "Scripts\python.exe"
if (-not (Test-Path $VPy)) {
  Say "creating $Venv with $Python"
  & $PyCmd @PyArgs -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)"
  Check "Python 3.11 or newer ($Python)"
  & $PyCmd @PyArgs -m venv $Venv
  Check "python -m venv"
}
# the prebuilt dlib wheel, at the version scripts/setup.sh pins (one place for it)
$DlibBin = (Select-String -Path (Join-Path $Root "scripts\setup.sh") -Pattern '^DLIB_BIN_VERSION=(.+)$').Matches[0].Groups[1].Value
Say "installing dlib-bin $DlibBin, FaceDesk and PyInstaller"
& $VPy -m pip install --disable-pip-version-check -q --upgrade pip
Check "pip upgrade"
& $VPy -m pip install --disable-pip-version-check -q "dlib-bin==$DlibBin"
Check "pip install dlib-bin"
& $VPy -m pip install --disable-pip-version-check -q -e ".[bundle]"
Check "pip install FaceDesk[bundle]"
$Info = & $VPy installer\appinfo.py --json | Out-String | ConvertFrom-Json
Check "installer\appinfo.py"
Say "$($Info.name) $($Info.version)"
& $VPy -c "import dlib, facedesk.core.engine as e; print('build: engine', e.DlibEngine().build_info())"
Check "importing dlib"

# -- 2. icons ------------------------------------------------------------------------------
& $VPy installer\render_icons.py build\icons
Check "installer\render_icons.py"

# -- 3. the application folder -------------------------------------------------------------
Say "PyInstaller (several minutes)"
& $VPy -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build\pyinstaller installer\facedesk.spec
Check "PyInstaller"
$AppDir = Join-Path $Root "dist\$($Info.executable)"
foreach ($exe in @("$($Info.executable).exe", "$($Info.cli_executable).exe")) {
  if (-not (Test-Path (Join-Path $AppDir $exe))) { throw "build: PyInstaller made no $AppDir\$exe" }
}

# -- 4. the .zip ---------------------------------------------------------------------------
$Zip = Join-Path $Root "dist\$($Info.executable)-$($Info.version)-windows-x64.zip"
Say "archive $Zip"
if (Test-Path $Zip) { Remove-Item $Zip }
Compress-Archive -Path $AppDir -DestinationPath $Zip
$Outputs = @($Zip)

# -- 5. the installer ----------------------------------------------------------------------
if (-not $NoInstaller) {
  if (-not $InnoSetup) {
    $candidates = @(
      "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe",
      "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
      "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe")
    $InnoSetup = $candidates | Where-Object { Test-Path $_ } | Select-Object -First 1
    if (-not $InnoSetup) {
      $cmd = Get-Command ISCC.exe -ErrorAction SilentlyContinue
      if ($cmd) { $InnoSetup = $cmd.Source }
    }
    if (-not $InnoSetup) { throw "build: Inno Setup 6 (ISCC.exe) not found: install it (winget install JRSoftware.InnoSetup), give -InnoSetup PATH, or use -NoInstaller" }
  }
  Say "Inno Setup: $InnoSetup"
  & $InnoSetup /Q `
    "/DAppName=$($Info.name)" `
    "/DAppVersion=$($Info.version)" `
    "/DAppVersionNumeric=$($Info.version_numeric)" `
    "/DAppPublisher=$($Info.publisher)" `
    "/DAppSummary=$($Info.summary)" `
    "/DAppId=$($Info.windows_app_id)" `
    "/DAppExeName=$($Info.executable).exe" `
    "/DSourceDir=$AppDir" `
    "/DOutputDir=$(Join-Path $Root 'dist')" `
    "/DIconFile=$(Join-Path $Root 'build\icons\facedesk.ico')" `
    installer\facedesk.iss
  Check "Inno Setup"
  $Outputs += Join-Path $Root "dist\$($Info.name)-Setup-$($Info.version)-x64.exe"
}

foreach ($file in $Outputs) {
  $hash = (Get-FileHash -Algorithm SHA256 $file).Hash.ToLower()
  Set-Content -Path "$file.sha256" -Value "$hash  $(Split-Path -Leaf $file)" -Encoding ASCII
}
$size = (Get-ChildItem -Recurse -File $AppDir | Measure-Object -Sum Length).Sum / 1MB
Say ("done in {0:N0} s: folder $AppDir ({1:N0} MB)" -f ((Get-Date) - $Started).TotalSeconds, $size)
foreach ($file in $Outputs) { Say ("  {0} ({1:N0} MB)" -f $file, ((Get-Item $file).Length / 1MB)) }
Say "check it: powershell -ExecutionPolicy Bypass -File installer\smoke_test.ps1 $($Outputs[-1]) C:\path\to\photos"
