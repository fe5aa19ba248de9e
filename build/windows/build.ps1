# Build the Windows installer. Run from the project folder, in PowerShell, after the setup in build/README.md:
#   powershell -ExecutionPolicy Bypass -File build\windows\build.ps1
#   powershell -ExecutionPolicy Bypass -File build\windows\build.ps1 --model D:\models\Llama-3-8B-Instruct --vendor "Acme IT"
# Options after the script name go to build\build.py (vendor inputs, --version).
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$python = ".venv\Scripts\python.exe"
if (-not (Test-Path $python)) { throw "No .venv here. Follow the Windows steps in build\README.md first." }

& $python build\build.py --stage-only @args
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

$version = (& $python -c "import json; print(json.load(open('build/out/stage/app/_internal/build-info.json'))['version'])").Trim()
$vendor = (& $python -c "import json,re; v=json.load(open('build/out/stage/app/_internal/build-info.json')).get('vendor',''); s=re.sub('[^A-Za-z0-9]+','-',v).strip('-').lower(); print('-'+s if s else '')").Trim()
$iscc = @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
          "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe") | Where-Object { Test-Path $_ } | Select-Object -First 1
if (-not $iscc) { throw "Inno Setup 6 is not installed (https://jrsoftware.org/isdl.php)." }

& $iscc "/DAppVersion=$version" "/DVendorSuffix=$vendor" build\windows\practice-assistant.iss
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "Installer: build\out\PracticeAssistant-$version$vendor-windows-x64-setup.exe (keep any .bin files beside it)"
