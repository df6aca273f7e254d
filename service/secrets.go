package service

import (
	"fmt"
	"os"
	"strings"
)

// The environment variables that hold the secrets. A secret never lives in
// the config file: it comes from here or from a 0600 file the config names.
const (
	BotTokenEnv = "TELEGRAM_BOT_TOKEN"
	LLMKeyEnv   = "HOLYSHEEP_API_KEY"
)

// ReadSecret returns the secret from the environment variable env, or else
// from file, which must not be readable by group or others.
func ReadSecret(env, file string) (string, error) {
	v, _, err := readSecret(env, file)
	return v, err
}

// readSecret is ReadSecret that also says where the secret came from, for
// errors that must name it without showing it.
func readSecret(env, file string) (value, source string, err error) {
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v, env, nil
	}
	if file == "" {
		return "", "", nil
	}
	fi, err := os.Stat(file)
	if err != nil {
		return "", "", fmt.Errorf("cannot read secret file for %s: %w", env, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("secret file %s for %s is readable by others (mode %#o): chmod 600 it", file, env, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("cannot read secret file for %s: %w", env, err)
	}
	return strings.TrimSpace(string(b)), "the file " + file + " (" + env + " is unset)", nil
}

// ReadBotToken returns the bot token as `run`, `config check` and `replay
// --telegram` read it: from TELEGRAM_BOT_TOKEN, or else from
// telegram.token_file (mode 0600), and in the form the Bot API and telego
// accept, so that a bad token stops liqbox at the check with an error that
// names where it came from and what is expected, never at the first
// request. It returns "" when there is none. Errors never show the token.
func ReadBotToken(c *Config) (string, error) {
	tok, source, err := readSecret(BotTokenEnv, c.Telegram.TokenFile)
	if err != nil || tok == "" {
		return "", err
	}
	if err := checkBotToken(tok); err != nil {
		return "", fmt.Errorf("%s does not hold a Telegram bot token: %w", source, err)
	}
	return tok, nil
}

// ReadSecrets returns both secrets as `run` reads them: ReadBotToken and
// ReadLLMKey. `config check` calls it too, so a check that passes means
// run gets past its secrets.
func ReadSecrets(c *Config) (botToken, llmKey string, err error) {
	if botToken, err = ReadBotToken(c); err != nil {
		return "", "", err
	}
	if llmKey, err = ReadLLMKey(c); err != nil {
		return "", "", err
	}
	return botToken, llmKey, nil
}

// ReadLLMKey returns the LLM API key from HOLYSHEEP_API_KEY, or else from
// enrich.api_key_file (mode 0600); "" when there is none.
func ReadLLMKey(c *Config) (string, error) {
	return ReadSecret(LLMKeyEnv, c.Enrich.APIKeyFile)
}

// checkBotToken holds tok to the form @BotFather gives and telego requires
// (^\d+:[\w-]{35}$): the bot's numeric id, a colon, 35 letters, digits, _
// or -. Its error describes what is wrong without any of the token.
func checkBotToken(tok string) error {
	const want = "expected the bot's id (digits), a colon and 35 letters, digits, _ or - (the form @BotFather gives, 123456789:AAE…)"
	id, secret, ok := strings.Cut(tok, ":")
	switch {
	case strings.ContainsAny(tok, `"'`):
		return fmt.Errorf("%s; it contains quotes: write the token without them", want)
	case strings.ContainsAny(tok, " \t"):
		return fmt.Errorf("%s; it contains a space", want)
	case !ok:
		return fmt.Errorf("%s; it has no colon", want)
	case id == "" || strings.Trim(id, "0123456789") != "":
		return fmt.Errorf("%s; the part before the colon is not a number", want)
	case len(secret) != 35:
		return fmt.Errorf("%s; the part after the colon has %d characters", want, len(secret))
	}
	for _, c := range secret {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%s; the part after the colon has a character outside them", want)
		}
	}
	return nil
}
