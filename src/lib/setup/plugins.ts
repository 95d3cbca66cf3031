// The bot uses its own plugins exactly as any other Sapphire bot would: through their register entries
// (`sapphire-imagine/storage/register` and `sapphire-imagine/generation/register` once published). The
// relative paths resolve the same way from src/ (tsx) and dist/ (node).
import '../../plugins/storage/register.js';
import '../../plugins/generation/register.js';
// The subcommands plugin's register loads its PluginSubcommandCooldown precondition, which a subcommand with
// cooldown options needs; its error listeners stay off (see client.ts).
import '@sapphire/plugin-subcommands/register';
