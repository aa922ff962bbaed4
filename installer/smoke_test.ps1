<#
.SYNOPSIS
  Smoke test of a built FaceDesk Windows bundle: the same checks as installer/smoke_test.sh.

.DESCRIPTION
  powershell -ExecutionPolicy Bypass -File installer\smoke_test.ps1 BUNDLE DATA_DIR [OUT_DIR]

  BUNDLE    dist\FaceDesk-<version>-windows-x64.zip, the installer
            dist\FaceDesk-Setup-<version>-x64.exe (installed silently for the current user
            into a temporary folder, uninstalled at the end), or a bundle folder
  DATA_DIR  photos in one sub-folder per person (e.g. the ORL faces s1..s40 or LFW's
            images folder): 4 persons with at least 6 photos each are taken, 5 photos each
            (20) go into the gallery, the 6th photo of the first person is the probe
  OUT_DIR   where the screenshots and the report go (default: .\smoke-out)

  Checks, from a clean temporary folder:
    1. facedesk-cli --version, FaceDesk --help
    2. facedesk-cli import of the 20 photos with 2 worker processes (multiprocessing
       "spawn" in the frozen application)
    3. an administrator, an analyst and a case; facedesk-cli search --case of the probe: the probe's person is candidate 1 and the output
       says candidates are investigative leads only
    4. the GUI: "facedesk-cli gui --db" and FaceDesk.exe without arguments (the last
       gallery): the main window is shown and saved as a PNG (FACEDESK_SCREENSHOT); the
       time from start to the window shown is the start-up time
  FaceDesk's settings are in the registry (HKCU\Software\FaceDesk): when the key did not
  exist before the test, it is removed afterwards. Exits 1 at the first failure. LOOK at
  the screenshots.
#>
param(
  [Parameter(Mandatory = $true)][string]$Bundle,
  [Parameter(Mandatory = $true)][string]$Data,
  [string]$Out = "smoke-out",
  # use Qt's offscreen platform instead of the desktop (e.g. in a service session)
  [switch]$Offscreen
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

$Bundle = (Resolve-Path $Bundle).Path
$Data = (Resolve-Path $Data).Path
New-Item -ItemType Directory -Force -Path $Out | Out-Null
$Out = (Resolve-Path $Out).Path
$Report = Join-Path $Out "smoke-report.txt"
Set-Content -Path $Report -Value "" -Encoding UTF8

function Say([string]$Text) {
  $line = "smoke: $Text"
  Write-Host $line
  Add-Content -Path $Report -Value $line -Encoding UTF8
}
function Fail([string]$Text) { Say "FAILED: $Text"; exit 1 }
function Now { [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000.0 }

$Work = Join-Path ([IO.Path]::GetTempPath()) ("facedesk-smoke-" + [guid]::NewGuid().ToString("N").Substring(0, 8))
New-Item -ItemType Directory -Path $Work | Out-Null
$HadSettings = Test-Path "HKCU:\Software\FaceDesk"
$Uninstaller = $null
Say "bundle $Bundle"
Say "working in $Work"

try {
  # -- unpack or install on a clean path ---------------------------------------------------
  if ($Bundle -like "*.zip") {
    Expand-Archive -Path $Bundle -DestinationPath $Work
    $AppDir = (Get-ChildItem -Directory $Work | Select-Object -First 1).FullName
  } elseif ($Bundle -like "*.exe") {
    $AppDir = Join-Path $Work "FaceDesk"
    $p = Start-Process -FilePath $Bundle -Wait -PassThru -ArgumentList @(
      "/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART", "/CURRENTUSER", "/NOICONS",
      "/DIR=`"$AppDir`"", "/LOG=`"$Work\setup.log`"")
    if ($p.ExitCode -ne 0) { Fail "the installer exited with $($p.ExitCode) (see $Work\setup.log)" }
    $Uninstaller = Join-Path $AppDir "unins000.exe"
  } else {
    Copy-Item -Recurse -Path $Bundle -Destination $Work
    $AppDir = Join-Path $Work (Split-Path -Leaf $Bundle)
  }
  $GuiExe = Join-Path $AppDir "FaceDesk.exe"
  $CliExe = Join-Path $AppDir "facedesk-cli.exe"
  if (-not (Test-Path $GuiExe) -or -not (Test-Path $CliExe)) { Fail "no FaceDesk.exe / facedesk-cli.exe in $AppDir" }
  $bytes = (Get-ChildItem -Recurse -File $AppDir | Measure-Object -Sum Length).Sum
  Say ("size: folder {0:N0} MB ({1:N0} bytes); download {2:N0} MB" -f ($bytes / 1MB), $bytes, ((Get-Item $Bundle).Length / 1MB))

  # -- 1. it starts -----------------------------------------------------------------------
  $version = & $CliExe --version
  if ($LASTEXITCODE -ne 0) { Fail "facedesk-cli --version" }
  Say "version: $version"
  $help = & $CliExe --help | Out-String
  if ($help -notmatch "import") { Fail "facedesk-cli --help lists no import command" }

  # -- 2. import 20 photos with 2 workers ---------------------------------------------------
  $Photos = Join-Path $Work "photos"
  $persons = @()
  $probe = $null
  $probePerson = $null
  foreach ($dir in Get-ChildItem -Directory $Data | Sort-Object Name) {
    $files = @(Get-ChildItem -File $dir.FullName | Where-Object { $_.Extension -match '^\.(jpe?g|png|pgm)$' } |
      Sort-Object { [regex]::Replace($_.Name, '\d+', { $args[0].Value.PadLeft(8, '0') }) })
    if ($files.Count -lt 6) { continue }
    $target = Join-Path $Photos $dir.Name
    New-Item -ItemType Directory -Force -Path $target | Out-Null
    $files[0..4] | ForEach-Object { Copy-Item $_.FullName $target }
    if (-not $probe) {
      $probe = Join-Path $Work ("probe-" + $files[5].Name)
      Copy-Item $files[5].FullName $probe
      $probePerson = $dir.Name
    }
    $persons += $dir.Name
    if ($persons.Count -ge 4) { break }
  }
  if ($persons.Count -lt 4) { Fail "$Data has fewer than 4 sub-folders with 6 photos" }
  Say "gallery: 20 photos of $($persons -join ' '); probe: another photo of $probePerson"
  $Db = Join-Path $Work "smoke.db"
  $t0 = Now
  $import = & $CliExe import $Photos --db $Db --workers 2 2>&1 | Out-String
  if ($LASTEXITCODE -ne 0) { Write-Host $import; Fail "facedesk-cli import" }
  $t1 = Now
  if ($import -notmatch "newly stored\s+20") { Write-Host $import; Fail "import did not store the 20 photos" }
  Say ("import: 20 photos, 2 workers, {0:N2} s" -f ($t1 - $t0))

  # -- 3. users, a case, and a search in it ------------------------------------------------
  $env:FACEDESK_NEW_PASSWORD = "lagoon-Vortex-3318"
  & $CliExe users init --db $Db --user admin --name "Smoke Administrator" --password-prompt | Out-Null
  if ($LASTEXITCODE -ne 0) { Fail "users init" }
  $env:FACEDESK_USER = "admin"; $env:FACEDESK_PASSWORD = "lagoon-Vortex-3318"
  $env:FACEDESK_NEW_PASSWORD = "prairie-Nickel-5527"
  & $CliExe users add ann --db $Db --name "Smoke Analyst" --role analyst --password-prompt | Out-Null
  if ($LASTEXITCODE -ne 0) { Fail "users add" }
  Remove-Item Env:FACEDESK_NEW_PASSWORD
  $env:FACEDESK_USER = "ann"; $env:FACEDESK_PASSWORD = "prairie-Nickel-5527"
  & $CliExe case open SMOKE-1 --db $Db --purpose 1 --detail "bundle smoke test" | Out-Null
  if ($LASTEXITCODE -ne 0) { Fail "case open" }
  $t0 = Now
  $search = & $CliExe search $probe --db $Db --case SMOKE-1 | Out-String
  if ($LASTEXITCODE -ne 0) { Write-Host $search; Fail "facedesk-cli search" }
  $t1 = Now
  & $CliExe audit verify --db $Db | Out-Null
  if ($LASTEXITCODE -ne 0) { Fail "audit verify: the log does not verify" }
  Add-Content -Path $Report -Value $search -Encoding UTF8
  if ($search -notmatch "(?m)^\s+1\s+[0-9.]+\s+[0-9.]+\s+\S+\s+\S+\s+$([regex]::Escape($probePerson))\s") {
    Write-Host $search; Fail "the probe's person $probePerson is not candidate 1"
  }
  if ($search -notmatch "investigative leads only") { Fail "search output lacks the lead notice" }
  $wording = ($search -split "`n") | Where-Object { $_ -match '\b(match(ed|es)?|identified)\b' -and $_ -notmatch 'false match' }
  if ($wording) { Fail "search output says match/identified: $wording" }
  Say ("search: $probePerson is candidate 1 ({0:N2} s including start-up)" -f ($t1 - $t0))

  # -- 4. the GUI ---------------------------------------------------------------------------
  function Start-Gui([string]$Label, [string]$Shot, [string]$Exe, [string[]]$Arguments) {
    $env:FACEDESK_SCREENSHOT = $Shot
    $env:FACEDESK_SCREENSHOT_DELAY_MS = "2500"
    if ($Offscreen) { $env:QT_QPA_PLATFORM = "offscreen" }
    Remove-Item -ErrorAction SilentlyContinue "$Shot", "$Shot.log"
    $err = Join-Path $Work "$Label.err"
    $start = Now
    $startArgs = @{ FilePath = $Exe; Wait = $true; PassThru = $true; RedirectStandardError = $err;
                    RedirectStandardOutput = (Join-Path $Work "$Label.out") }
    if ($Arguments) { $startArgs.ArgumentList = $Arguments }
    $p = Start-Process @startArgs
    Remove-Item Env:FACEDESK_SCREENSHOT, Env:FACEDESK_SCREENSHOT_DELAY_MS
    if ($Offscreen) { Remove-Item Env:QT_QPA_PLATFORM }
    if ($p.ExitCode -ne 0) { Get-Content $err | Write-Host; Fail "${Label}: the GUI exited with $($p.ExitCode)" }
    # the windowed FaceDesk.exe has no stderr: it writes the lines to <shot>.log
    $lines = @(Get-Content $err) + @(if (Test-Path "$Shot.log") { Get-Content "$Shot.log" })
    $shown = $lines | Select-String -Pattern '^facedesk: main window shown at ([0-9.]+)' | Select-Object -First 1
    if (-not $shown) { $lines | Write-Host; Fail "${Label}: no main window shown" }
    if (-not (Test-Path $Shot) -or (Get-Item $Shot).Length -eq 0) { Fail "${Label}: no screenshot" }
    return [double]::Parse($shown.Matches[0].Groups[1].Value, [Globalization.CultureInfo]::InvariantCulture) - $start
  }
  $secs = Start-Gui "gui-db" (Join-Path $Out "bundle-gui-db.png") $CliExe @("gui", "--db", "`"$Db`"")
  Say ("GUI (facedesk-cli gui --db, first start): main window shown after {0:N2} s -> $Out\bundle-gui-db.png" -f $secs)
  $secs = Start-Gui "gui-bare" (Join-Path $Out "bundle-main-window.png") $GuiExe @()
  Say ("GUI (FaceDesk.exe without arguments, last gallery): main window shown after {0:N2} s -> $Out\bundle-main-window.png" -f $secs)
  $recent = (Get-ItemProperty -Path "HKCU:\Software\FaceDesk\FaceDesk" -ErrorAction SilentlyContinue | Out-String)
  if ($recent -notmatch "smoke\.db") { Fail "the GUI did not remember the gallery in HKCU\Software\FaceDesk\FaceDesk" }

  Say "PASSED"
  Say "report: $Report"
} finally {
  if ($Uninstaller -and (Test-Path $Uninstaller)) {
    Start-Process -FilePath $Uninstaller -Wait -ArgumentList "/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART" | Out-Null
  }
  if (-not $HadSettings) { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue "HKCU:\Software\FaceDesk" }
  Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $Work
}
