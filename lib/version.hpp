// popup's release version, printed by every tool's --version.
#pragma once

#define POPUP_VERSION "0.1.0"
